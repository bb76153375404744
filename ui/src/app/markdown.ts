// Markdown for model output: marked -> DOMPurify, with highlight.js on code blocks whose fence
// has closed. Model output is untrusted: everything goes through the sanitizer, scripts and event
// handler attributes never survive, links open in a new tab without an opener. The only form
// control that survives is a task list's disabled checkbox. Every code block gets a Copy button
// (added after sanitizing, so model output can never make one); one click handler per thread.

import createDOMPurify from "dompurify";
import hljs from "highlight.js/lib/common";
import { Marked, type Tokens } from "marked";

export interface RenderOptions {
  /**
   * true: the text is complete (a finished block or the end of a reply): every code block is
   * highlighted. false: a streaming tail: only fenced blocks whose closing fence arrived are.
   */
  final: boolean;
  /** Keep marked's "\n" after the last block (a finished block followed by more blocks). */
  keepEnd?: boolean;
}

/** Counters for tests: how often highlight.js actually ran (cache misses). */
export const markdownStats = { highlights: 0, renders: 0, chars: 0 };

const purify = createDOMPurify(window);

const CHECKBOX_ATTRS = new Set(["type", "checked", "disabled"]);

purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
  if (node.nodeName === "INPUT") {
    // A task list item's box, nothing else: type=checkbox and disabled, with no other attribute.
    const el = node as Element;
    const ok = el.getAttribute("type") === "checkbox" && el.hasAttribute("disabled");
    if (!ok) {
      el.remove();
      return;
    }
    for (const name of el.getAttributeNames()) if (!CHECKBOX_ATTRS.has(name)) el.removeAttribute(name);
  }
});

const PURIFY_CONFIG = {
  USE_PROFILE: { html: true },
  // Form controls in model output would look like (and be found as) the window's own buttons.
  // (Inputs are checked by the hook above: only a disabled checkbox stays.)
  FORBID_TAGS: ["style", "form", "button", "textarea", "select", "option", "dialog"],
  FORBID_ATTR: ["style", "autofocus", "tabindex"],
  ADD_ATTR: ["target"],
};

/** Sanitizes an HTML string (model output) into inert HTML. */
export function sanitize(html: string): string {
  return purify.sanitize(html, PURIFY_CONFIG) as unknown as string;
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const OPEN_FENCE = /^ {0,3}(`{3,}|~{3,})([^\n]*)$/;

/** The fence of a line that opens one (``` or ~~~, at most 3 spaces in), else null. */
export function openingFence(line: string): { char: string; length: number } | null {
  const m = OPEN_FENCE.exec(line);
  if (!m) return null;
  const marker = m[1];
  if (marker[0] === "`" && m[2].includes("`")) return null; // not a fence: inline code
  return { char: marker[0], length: marker.length };
}

/** Whether `line` closes a fence opened with `fence`. */
export function closesFence(line: string, fence: { char: string; length: number }): boolean {
  const m = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(line);
  return !!m && m[1][0] === fence.char && m[1].length >= fence.length;
}

/** Whether a fenced code block's raw text (as marked lexed it) ends with its closing fence. */
export function fenceClosed(raw: string): boolean {
  const lines = raw.replace(/\n+$/, "").split("\n");
  const fence = openingFence(lines[0] ?? "");
  if (!fence) return true; // indented code: no fence to wait for
  return lines.length > 1 && closesFence(lines[lines.length - 1], fence);
}

// A small cache so a closed block in a growing tail is highlighted once, not once per frame.
const highlightCache = new Map<string, string>();
const HIGHLIGHT_CACHE_MAX = 64;
const AUTO_DETECT_MAX_CHARS = 20_000;
/** Longer code is shown plain: highlighting 80 KB of code blocks the page for half a second. */
const HIGHLIGHT_MAX_CHARS = 32_000;

function highlight(code: string, language: string): string | null {
  const key = `${language}\u0000${code}`;
  const hit = highlightCache.get(key);
  if (hit !== undefined) return hit;
  let html: string | null = null;
  if (code.length > HIGHLIGHT_MAX_CHARS) return null;
  try {
    if (language && hljs.getLanguage(language)) {
      html = hljs.highlight(code, { language, ignoreIllegals: true }).value;
    } else if (!language && code.length <= AUTO_DETECT_MAX_CHARS) {
      html = hljs.highlightAuto(code).value;
    }
  } catch {
    html = null;
  }
  if (html === null) return null;
  markdownStats.highlights += 1;
  if (highlightCache.size >= HIGHLIGHT_CACHE_MAX) {
    const oldest = highlightCache.keys().next().value;
    if (oldest !== undefined) highlightCache.delete(oldest);
  }
  highlightCache.set(key, html);
  return html;
}

let currentFinal = true;

const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    code(token: Tokens.Code): string {
      const language = (token.lang ?? "").trim().split(/\s+/)[0]?.toLowerCase() ?? "";
      const safeLang = language.replace(/[^a-z0-9_+#.-]/g, "");
      const text = token.text.replace(/\n$/, "");
      const closed = token.codeBlockStyle === "indented" ? currentFinal : fenceClosed(token.raw);
      const langLabel = safeLang ? ` data-lang="${escapeHtml(safeLang)}"` : "";
      const langClass = safeLang ? ` language-${safeLang}` : "";
      if (currentFinal || closed) {
        const html = highlight(text, safeLang);
        if (html !== null) {
          return `<pre${langLabel}><code class="hljs${langClass}">${html}</code></pre>\n`;
        }
      }
      const cls = langClass ? ` class="${langClass.trim()}"` : "";
      return `<pre${langLabel}><code${cls}>${escapeHtml(text)}</code></pre>\n`;
    },
  },
});

/** Renders markdown to sanitized HTML. */
export function renderMarkdown(src: string, options: RenderOptions = { final: true }): string {
  markdownStats.renders += 1;
  markdownStats.chars += src.length;
  currentFinal = options.final;
  let html: string;
  try {
    html = marked.parse(src, { async: false }) as string;
  } catch {
    html = `<p>${escapeHtml(src)}</p>`;
  } finally {
    currentFinal = true;
  }
  // marked ends every block with "\n": drop the last one so a text node does not trail the text.
  return sanitize(options.keepEnd ? html : html.replace(/\n+$/, ""));
}

/** Renders one line of inline markdown (a paragraph's content) to sanitized HTML. */
export function renderInline(src: string): string {
  markdownStats.renders += 1;
  markdownStats.chars += src.length;
  let html: string;
  try {
    html = marked.parseInline(src, { async: false }) as string;
  } catch {
    html = escapeHtml(src);
  }
  return sanitize(html);
}

const DELIMITERS = /[*_~]/g;
const UNSAFE_IN_TEXT = /[`[\]<]/;

/** Whether the inline source `a` renders the same alone as at the start of any longer line. */
function inlineClosed(a: string): boolean {
  let tokens: Array<{ type: string; raw: string }>;
  try {
    tokens = marked.Lexer.lexInline(a, marked.defaults) as Array<{ type: string; raw: string }>;
  } catch {
    return false;
  }
  let offset = 0;
  for (const token of tokens) {
    const start = offset;
    offset += token.raw.length;
    if (token.type === "html" || token.type === "br") return false;
    if (token.type !== "text") continue;
    if (UNSAFE_IN_TEXT.test(token.raw)) return false;
    // A delimiter left as text could open emphasis that a later closer ends: only those that can
    // neither open nor close (between spaces, or an underscore inside a word) are harmless.
    for (const m of token.raw.matchAll(DELIMITERS)) {
      const i = start + (m.index ?? 0);
      const before = a[i - 1] ?? " ";
      const after = a[i + 1] ?? " ";
      const spaced = /\s/.test(before) && /\s/.test(after);
      const inWord = m[0] === "_" && /[\p{L}\p{N}]/u.test(before) && /[\p{L}\p{N}]/u.test(after);
      if (!spaced && !inWord) return false;
    }
  }
  return offset === a.length;
}

/**
 * Where a growing one-line paragraph can be cut so that the part before renders once, for good:
 * just after a space between two words, with no code span, link, emphasis or HTML open before it.
 * Tries the last such space, then two earlier ones; 0 when none is safe.
 */
export function inlineSafeCut(live: string): number {
  let limit = live.length - 1;
  for (let attempt = 0; attempt < 3 && limit > 0; attempt++) {
    let i = live.lastIndexOf(" ", limit - 1);
    while (i > 0 && (live[i - 1] === " " || live[i + 1] === " " || i + 1 >= live.length)) {
      i = live.lastIndexOf(" ", i - 1);
    }
    if (i <= 0) return 0;
    if (inlineClosed(live.slice(0, i + 1))) return i + 1;
    limit = Math.floor(i / 2);
  }
  return 0;
}

/** Puts a Copy button in every code block of `root` that has none (after sanitizing). */
export function decorateCode(root: ParentNode): void {
  for (const pre of Array.from(root.querySelectorAll("pre"))) {
    if (pre.querySelector(":scope > .copy-code")) continue;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-code";
    button.dataset.copyCode = "";
    button.textContent = "Copy";
    pre.prepend(button);
  }
}

/** Names a task list's checkboxes after their item (a checkbox needs a name). */
function labelTaskBoxes(root: ParentNode): void {
  for (const box of Array.from(root.querySelectorAll<HTMLInputElement>('li > input[type="checkbox"]'))) {
    const text = (box.parentElement?.textContent ?? "").trim().replace(/\s+/g, " ");
    box.setAttribute("aria-label", text.slice(0, 120) || "Task");
  }
}

/** Parses sanitized HTML into a fragment (template content is inert: nothing loads or runs). */
export function toFragment(html: string): DocumentFragment {
  const template = document.createElement("template");
  template.innerHTML = html;
  decorateCode(template.content);
  labelTaskBoxes(template.content);
  return template.content;
}

/** How long a Copy button says "Copied". */
export const COPIED_MS = 2000;

/** Copies `text`: the async clipboard, else the selection way; rejects when neither works. */
export async function writeClipboard(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // no async clipboard (an insecure origin, a denied permission): the selection way
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy failed");
}

/** One click handler for every Copy button under `root`: copies the code exactly, says "Copied". */
export function handleCopyButtons(root: HTMLElement): void {
  root.addEventListener("click", (event) => {
    const button = (event.target as Element | null)?.closest?.<HTMLButtonElement>("button[data-copy-code]");
    if (!button || !root.contains(button)) return;
    const code = button.parentElement?.querySelector("code");
    const text = code?.textContent ?? "";
    writeClipboard(text).then(
      () => {
        button.textContent = "Copied";
        button.dataset.copied = "";
        setTimeout(() => {
          button.textContent = "Copy";
          delete button.dataset.copied;
        }, COPIED_MS);
      },
      () => {
        button.textContent = "Copy failed";
      },
    );
  });
}
