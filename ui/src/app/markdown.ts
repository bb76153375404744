// Markdown for model output: marked -> DOMPurify, with highlight.js on code blocks whose fence
// has closed. Model output is untrusted: everything goes through the sanitizer, scripts and event
// handler attributes never survive, links open in a new tab without an opener.

import createDOMPurify from "dompurify";
import hljs from "highlight.js/lib/common";
import { Marked, type Tokens } from "marked";

export interface RenderOptions {
  /**
   * true: the text is complete (a finished block or the end of a reply): every code block is
   * highlighted. false: a streaming tail: only fenced blocks whose closing fence arrived are.
   */
  final: boolean;
}

/** Counters for tests: how often highlight.js actually ran (cache misses). */
export const markdownStats = { highlights: 0, renders: 0 };

const purify = createDOMPurify(window);

purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

const PURIFY_CONFIG = {
  USE_PROFILE: { html: true },
  // Form controls in model output would look like (and be found as) the window's own buttons.
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "option", "dialog"],
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

function highlight(code: string, language: string): string | null {
  const key = `${language}\u0000${code}`;
  const hit = highlightCache.get(key);
  if (hit !== undefined) return hit;
  let html: string | null = null;
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
  return sanitize(html.replace(/\n+$/, ""));
}

/** Parses sanitized HTML into a fragment (template content is inert: nothing loads or runs). */
export function toFragment(html: string): DocumentFragment {
  const template = document.createElement("template");
  template.innerHTML = html;
  return template.content;
}
