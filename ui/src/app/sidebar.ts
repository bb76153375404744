// The sidebar of conversations: the threads the sidecar keeps, newest first, with search,
// rename and delete (with a confirmation). It only draws and reports clicks; what they do is
// threads.ts's (list_threads, rename_thread, delete_thread through the client).
//
// Accessible names (a contract the e2e tests use): the landmark "Conversations", the search box
// "Search conversations", one list item per thread whose first button is its title, then
// "Rename" and "Delete"; renaming shows a textbox "Conversation title"; Delete asks first with
// "Confirm delete" and "Cancel". The list is one Tab stop (a roving tabindex): Up and Down move
// between conversations, Left and Right between a conversation's buttons.

import type { ThreadSummary } from "../protocol";
import "./threads.css";
import { h } from "./view";

export interface SidebarHandlers {
  open(threadId: string): void;
  search(query: string): void;
  rename(threadId: string, title: string): void;
  remove(threadId: string): void;
}

const SEARCH_DELAY_MS = 150;
export const UNTITLED = "New conversation";

export class Sidebar {
  readonly element: HTMLElement;
  readonly searchInput: HTMLInputElement;
  private readonly list: HTMLUListElement;
  private readonly empty: HTMLElement;
  private activeId: string | null = null;
  private searchTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly handlers: SidebarHandlers) {
    this.searchInput = h("input", {
      type: "search",
      class: "thread-search",
      "aria-label": "Search conversations",
      placeholder: "Search conversations",
      spellcheck: "false",
    });
    this.searchInput.addEventListener("input", () => {
      if (this.searchTimer !== null) clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => handlers.search(this.searchInput.value.trim()), SEARCH_DELAY_MS);
    });
    this.list = h("ul", { class: "thread-list" });
    this.list.addEventListener("keydown", (e) => this.onKey(e));
    this.empty = h("div", { class: "thread-list-empty", text: "No conversations yet" });
    this.element = h(
      "nav",
      { class: "sidebar", "aria-label": "Conversations" },
      h("div", { class: "sidebar-title", text: "Conversations" }),
      this.searchInput,
      this.list,
      this.empty,
    );
  }

  get query(): string {
    return this.searchInput.value.trim();
  }

  render(threads: ThreadSummary[]): void {
    this.list.replaceChildren(...threads.map((t) => this.item(t)));
    this.rove(null);
    this.empty.hidden = threads.length > 0;
    this.empty.textContent = this.query ? "No conversation matches" : "No conversations yet";
  }

  setActive(threadId: string | null): void {
    this.activeId = threadId;
    for (const item of this.list.querySelectorAll<HTMLElement>("li[data-thread-id]")) {
      if (item.dataset.threadId === threadId) item.setAttribute("aria-current", "true");
      else item.removeAttribute("aria-current");
    }
    if (!this.list.contains(document.activeElement)) this.rove(null);
  }

  /** One button of the list takes Tab: `target`, else the open conversation's, else the first. */
  private rove(target: HTMLElement | null): void {
    const buttons = [...this.list.querySelectorAll<HTMLElement>("button, input")];
    const current =
      target ??
      this.list.querySelector<HTMLElement>('li[aria-current="true"] .thread-open') ??
      this.list.querySelector<HTMLElement>(".thread-open");
    for (const b of buttons) b.tabIndex = b === current ? 0 : -1;
  }

  private onKey(e: KeyboardEvent): void {
    const from = e.target as HTMLElement;
    const item = from.closest("li");
    if (!item || from.tagName === "INPUT") return;
    let to: HTMLElement | null | undefined = null;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const items = [...this.list.querySelectorAll<HTMLElement>("li")];
      const next = items[items.indexOf(item) + (e.key === "ArrowDown" ? 1 : -1)];
      to = next?.querySelector<HTMLElement>("button");
    } else if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      const buttons = [...item.querySelectorAll<HTMLElement>("button")];
      to = buttons[buttons.indexOf(from) + (e.key === "ArrowRight" ? 1 : -1)];
    }
    if (!to) return;
    e.preventDefault();
    this.rove(to);
    to.focus();
  }

  private item(thread: ThreadSummary): HTMLElement {
    const title = thread.title || UNTITLED;
    const open = h("button", { type: "button", class: "thread-open", title: thread.preview || title }, title);
    open.addEventListener("click", () => this.handlers.open(thread.id));
    const rename = h("button", { type: "button", class: "thread-action", text: "Rename" });
    const remove = h("button", { type: "button", class: "thread-action danger", text: "Delete" });
    const item = h("li", { class: "thread-item", "data-thread-id": thread.id }, open, rename, remove);
    if (thread.id === this.activeId) item.setAttribute("aria-current", "true");
    rename.addEventListener("click", () => this.startRename(item, thread.id, thread.title));
    remove.addEventListener("click", () => this.confirmDelete(item, thread.id));
    return item;
  }

  private startRename(item: HTMLElement, threadId: string, title: string): void {
    const input = h("input", { type: "text", class: "thread-rename", "aria-label": "Conversation title" });
    input.value = title;
    const children = [...item.childNodes];
    item.replaceChildren(input);
    let done = false;
    const finish = (save: boolean) => {
      if (done) return;
      done = true;
      const value = input.value.trim();
      item.replaceChildren(...children);
      this.rove(null);
      if (save && value && value !== title) this.handlers.rename(threadId, value);
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        finish(true);
      } else if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
    input.focus();
    input.select();
  }

  private confirmDelete(item: HTMLElement, threadId: string): void {
    const children = [...item.childNodes];
    const question = h("span", { class: "thread-confirm-text", text: "Delete this conversation?" });
    const confirm = h("button", { type: "button", class: "thread-action danger", text: "Confirm delete" });
    const cancel = h("button", { type: "button", class: "thread-action", text: "Cancel" });
    confirm.addEventListener("click", () => this.handlers.remove(threadId));
    cancel.addEventListener("click", () => {
      item.replaceChildren(...children);
      this.rove(null);
    });
    item.replaceChildren(question, confirm, cancel);
    this.rove(cancel);
    cancel.focus();
  }
}

/** Puts the sidebar beside the window (`root` holds the frame built by view.ts). It comes after
 * the window in the document, so Tab reaches the window's own controls first; CSS draws it on
 * the left. */
export function mountSidebar(root: HTMLElement, handlers: SidebarHandlers): Sidebar {
  const sidebar = new Sidebar(handlers);
  root.classList.add("with-sidebar");
  root.append(sidebar.element);
  return sidebar;
}
