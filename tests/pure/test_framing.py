from sidecar.framing import LineSplitter, OversizedLine, encode_line, encode_lines


def feed_all(splitter: LineSplitter, pieces: list[bytes]) -> list[object]:
    out: list[object] = []
    for piece in pieces:
        out += splitter.feed(piece)
    return out


def test_lines_split_only_on_lf_and_drop_a_trailing_cr() -> None:
    splitter = LineSplitter(100)
    assert splitter.feed(b'{"a":1}\r\n{"b":"x\xc2\x85y\xe2\x80\xa8z"}\n') == [
        b'{"a":1}',
        b'{"b":"x\xc2\x85y\xe2\x80\xa8z"}',
    ]


def test_a_line_fed_one_byte_at_a_time_comes_out_whole() -> None:
    data = '{"content":"日本語 🙂 é"}\n'.encode()
    splitter = LineSplitter(100)
    assert feed_all(splitter, [data[i : i + 1] for i in range(len(data))]) == [data[:-1]]


def test_oversized_line_is_reported_once_and_the_next_line_survives() -> None:
    splitter = LineSplitter(10)
    out = feed_all(splitter, [b"x" * 7, b"y" * 7, b"z" * 20, b"\nok\n"])
    assert len(out) == 2
    assert isinstance(out[0], OversizedLine) and out[0].size == 34
    assert out[1] == b"ok"
    assert splitter.pending == 0


def test_oversized_line_in_one_read_is_reported() -> None:
    out = LineSplitter(4).feed(b"12345\n1234\n")
    assert isinstance(out[0], OversizedLine) and out[0].size == 5
    assert out[1] == b"1234"


def test_memory_held_for_an_unfinished_line_is_bounded() -> None:
    splitter = LineSplitter(1000)
    for _ in range(100):
        splitter.feed(b"a" * 999)
    assert len(splitter._buffer) == 0
    assert splitter.pending == 99_900


def test_flush_returns_an_unterminated_last_line() -> None:
    splitter = LineSplitter(100)
    assert splitter.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert splitter.flush() == [b'{"b"']
    assert splitter.flush() == []


def test_output_lines_escape_line_and_paragraph_separators_but_keep_nel() -> None:
    line = encode_line({"content": "a\u2028b\u2029c\u0085d\ne"})
    assert line == b'{"content":"a\\u2028b\\u2029c\xc2\x85d\\ne"}\n'
    assert line.count(b"\n") == 1 and b"\r" not in line


def test_encode_lines_writes_one_buffer_of_whole_lines() -> None:
    assert encode_lines([1, "x"]) == b'1\n"x"\n'
    assert encode_lines(["a\u2028b"]) == b'"a\\u2028b"\n'  # one line, as `encode_line`
    assert encode_lines([]) == b""


# --- found by scripts/mutate (docs/testing.md) -------------------------------------------------


def test_a_new_splitter_holds_nothing() -> None:
    assert LineSplitter(10).pending == 0


def test_an_oversized_line_ending_in_a_later_read_counts_every_byte() -> None:
    splitter = LineSplitter(10)
    assert splitter.feed(b"x" * 20) == []
    [line, ok] = splitter.feed(b"yy\nok\n")
    assert isinstance(line, OversizedLine) and line.size == 22
    assert ok == b"ok"


def test_an_oversized_unterminated_last_line_is_reported_at_eof_with_its_size() -> None:
    splitter = LineSplitter(4)
    splitter.feed(b"ok\n1234567")
    [line] = splitter.flush()
    assert isinstance(line, OversizedLine) and line.size == 7
    assert splitter.pending == 0
    assert splitter.flush() == []


def test_a_short_rest_after_a_line_is_kept_for_the_next_read() -> None:
    splitter = LineSplitter(4)
    assert splitter.feed(b"a\nbcd") == [b"a"]
    assert splitter.pending == 3
    assert splitter.feed(b"\n") == [b"bcd"]


def test_pieces_that_together_pass_the_limit_are_dropped_at_once() -> None:
    splitter = LineSplitter(10)
    splitter.feed(b"x" * 6)
    splitter.feed(b"y" * 6)
    assert len(splitter._buffer) == 0  # dropped as it arrives, not held until its `\n`
    assert splitter.pending == 12


def test_feed_block_gives_whole_lines_keeps_the_rest_and_never_holds_past_the_limit() -> None:
    splitter = LineSplitter(max_line_bytes=8)
    assert splitter.feed_block(b"a\nb") == b"a\n"  # the unterminated rest is not in the block
    assert splitter.feed_block(b"cd") == b""  # no line ended: nothing to give, the bytes held
    assert splitter.feed_block(b"e\nfg") == b"bcde\n"
    assert splitter.flush() == [b"fg"]
    # An unfinished line that would pass the limit is not taken: `feed` must drop it as it comes.
    fresh = LineSplitter(max_line_bytes=8)
    assert fresh.feed_block(b"x" * 9) is None
    assert fresh.pending == 0
