// @vitest-environment jsdom
// The window's rows of a stored thread (src/app/threads.ts): each user message alone, every run
// of assistant and tool messages as one reply.
import { describe, expect, it } from "vitest";

import type { StoredMessage } from "../src/protocol";
import { groupRows } from "../src/app/threads";

function message(id: string, role: string, parent: string | null): StoredMessage {
  return { id, parent_id: parent, role, content: id, status: "complete", created_at: "", versions: [id] };
}

describe("groupRows", () => {
  it("puts each user message alone and a reply's tool rounds together", () => {
    const path = [
      message("u1", "user", null),
      message("a1", "assistant", "u1"),
      message("t1", "tool", "a1"),
      message("a2", "assistant", "t1"),
      message("u2", "user", "a2"),
      message("a3", "assistant", "u2"),
    ];
    expect(groupRows(path).map((g) => [g.kind, g.messages.map((m) => m.id)])).toEqual([
      ["user", ["u1"]],
      ["reply", ["a1", "t1", "a2"]],
      ["user", ["u2"]],
      ["reply", ["a3"]],
    ]);
  });

  it("leaves system messages out", () => {
    expect(groupRows([message("s", "system", null), message("u", "user", "s")]).map((g) => g.kind)).toEqual(["user"]);
  });
});
