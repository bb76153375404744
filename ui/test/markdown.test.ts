// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { fenceClosed, renderMarkdown, sanitize, toFragment } from "../src/app/markdown";

function render(src: string, final = true): HTMLElement {
  const div = document.createElement("div");
  div.append(toFragment(renderMarkdown(src, { final })));
  return div;
}

describe("sanitizing model output", () => {
  it("drops <script> elements, inline or in a block", () => {
    const div = render('Hello <script>window.__pwned = 1</script> world\n\n<script>alert(1)</script>');
    expect(div.querySelector("script")).toBeNull();
    expect(div.innerHTML).not.toContain("__pwned");
    expect(div.textContent).toContain("Hello");
  });

  it("strips onerror and other event handler attributes", () => {
    const div = render('<img src="x" onerror="window.__pwned=1"> and <a href="#" onclick="x()">a</a>');
    const img = div.querySelector("img");
    expect(img).not.toBeNull();
    expect(img!.getAttribute("onerror")).toBeNull();
    expect(div.innerHTML).not.toMatch(/onerror|onclick/i);
  });

  it("strips javascript: URLs, iframes, styles and form controls", () => {
    const div = render(
      '[click](javascript:alert(1)) <iframe src="https://example.com"></iframe>' +
        '<style>body{display:none}</style><button>Send</button><input value="x"><form></form>',
    );
    expect(div.innerHTML).not.toMatch(/javascript:/i);
    expect(div.querySelector("iframe, style, button, input, form")).toBeNull();
  });

  it("keeps a task list's boxes as disabled checkboxes and no other input", () => {
    const div = render("- [x] done\n- [ ] todo");
    const boxes = [...div.querySelectorAll("input")];
    expect(boxes.map((b) => [b.type, b.disabled, b.checked])).toEqual([
      ["checkbox", true, true],
      ["checkbox", true, false],
    ]);
    const raw = render(
      '<input type="checkbox"> <input type="text" disabled> <input type="checkbox" disabled onclick="x()" name="n" form="f"> ' +
        '<input type="checkbox" disabled checked value="1" style="display:none">',
    );
    const kept = [...raw.querySelectorAll("input")];
    expect(kept).toHaveLength(2);
    for (const box of kept) expect(box.getAttributeNames().sort()).toEqual(box.checked ? ["checked", "disabled", "type"] : ["disabled", "type"]);
  });

  it("gives every code block a Copy button that model output cannot forge", () => {
    const div = render("```js\nlet a = 1;\n```\n\n    indented\n\n<button>Copy</button>");
    const buttons = [...div.querySelectorAll("button")];
    expect(buttons).toHaveLength(2);
    for (const b of buttons) {
      expect(b.textContent).toBe("Copy");
      expect(b.parentElement!.tagName).toBe("PRE");
    }
  });

  it("keeps the text of markup that is written as code", () => {
    const div = render("Use `<script>` tags like this:\n\n```html\n<script src=x></script>\n```\n");
    expect(div.querySelector("script")).toBeNull();
    expect(div.querySelector("code")!.textContent).toBe("<script>");
    expect(div.querySelector("pre code")!.textContent).toBe("<script src=x></script>");
  });

  it("sanitize() on its own removes scripts and handlers", () => {
    const html = sanitize('<p onmouseover="x()">hi<script>y()</script><svg onload="z()"></svg></p>');
    expect(html).not.toMatch(/script|onmouseover|onload/i);
    expect(html).toContain("hi");
  });

  it("opens links in a new tab without an opener", () => {
    const a = render("See [the docs](https://example.com/docs).").querySelector("a")!;
    expect(a.getAttribute("href")).toBe("https://example.com/docs");
    expect(a.getAttribute("target")).toBe("_blank");
    expect(a.getAttribute("rel")).toContain("noopener");
  });
});

describe("markdown", () => {
  it("renders the usual blocks", () => {
    const div = render("# Title\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n**bold** _it_");
    expect(div.querySelector("h1")!.textContent).toBe("Title");
    expect(div.querySelectorAll("li")).toHaveLength(2);
    expect(div.querySelector("table td")!.textContent).toBe("1");
    expect(div.querySelector("strong")!.textContent).toBe("bold");
  });

  it("highlights a fenced block only once its fence has closed (streaming tail)", () => {
    const open = render("```python\ndef f():\n    return 1\n", false);
    expect(open.querySelector("code.hljs")).toBeNull();
    expect(open.querySelector("[class^='hljs-'], [class*=' hljs-']")).toBeNull();
    expect(open.querySelector("pre code")!.textContent).toContain("def f():");

    const closed = render("```python\ndef f():\n    return 1\n```", false);
    expect(closed.querySelector("code.hljs.language-python")).not.toBeNull();
    expect(closed.querySelector(".hljs-keyword")!.textContent).toBe("def");
  });

  it("highlights every block of final text", () => {
    const div = render("```js\nconst x = 1;\n", true);
    expect(div.querySelector("code.hljs")).not.toBeNull();
  });

  it("knows when a fence is closed", () => {
    expect(fenceClosed("```js\ncode\n```")).toBe(true);
    expect(fenceClosed("```js\ncode\n```\n")).toBe(true);
    expect(fenceClosed("```js\ncode\n")).toBe(false);
    expect(fenceClosed("````\n```\nstill open\n")).toBe(false);
    expect(fenceClosed("~~~\ncode\n~~~")).toBe(true);
    expect(fenceClosed("```\n")).toBe(false);
  });
});
