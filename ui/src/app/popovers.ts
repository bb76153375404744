// The header's two disclosures: the Settings popover and, on small screens, the menu that holds
// the model picker, Tools, Settings and Theme. Each opens from its button (aria-expanded), closes on
// Escape, on a click outside and on its button again, and gives focus back to its button. Escape
// inside a disclosure is consumed there (preventDefault), so it never also stops a streaming reply.

export interface Disclosure {
  readonly open: boolean;
  show(): void;
  hide(returnFocus?: boolean): void;
  toggle(): void;
}

export function disclosure(
  button: HTMLButtonElement,
  panel: HTMLElement,
  options: {
    /** Move focus into the panel when it opens. */
    focusFirst?: boolean;
    /** false: only data-open changes (CSS decides, e.g. the menu is always shown on wide screens). */
    useHidden?: boolean;
    onToggle?: (open: boolean) => void;
    /** Where focus goes back to when it closes (default: the button). */
    returnTo?: () => HTMLElement;
  } = {},
): Disclosure {
  let open = false;
  const set = (value: boolean) => {
    open = value;
    if (options.useHidden !== false) panel.hidden = !value;
    panel.dataset.open = String(value);
    button.setAttribute("aria-expanded", String(value));
    options.onToggle?.(value);
  };
  const api: Disclosure = {
    get open() {
      return open;
    },
    show() {
      if (open) return;
      set(true);
      if (options.focusFirst) {
        panel.querySelector<HTMLElement>("input, select, textarea, button")?.focus();
      }
    },
    hide(returnFocus = true) {
      if (!open) return;
      set(false);
      if (returnFocus) (options.returnTo?.() ?? button).focus();
    },
    toggle() {
      if (open) api.hide();
      else api.show();
    },
  };
  button.addEventListener("click", () => api.toggle());
  panel.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && open && !e.defaultPrevented) {
      e.preventDefault();
      api.hide();
    }
  });
  document.addEventListener("pointerdown", (e) => {
    if (!open) return;
    const target = e.target as Node | null;
    const inside = [panel, button].some((el) => target && el.contains(target));
    if (!inside) api.hide(false);
  });
  set(false);
  return api;
}
