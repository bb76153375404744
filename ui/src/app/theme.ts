// Light and dark: the page follows the system (`prefers-color-scheme`) unless the user picked one
// in the Theme control; that choice is remembered across reloads (localStorage). The resolved theme
// is `<html data-theme="light|dark">` plus `color-scheme`, which style.css keys its colours on,
// the code highlighting's too (GitHub's light and dark palettes as --hl-* variables, AA on their
// code background). Plain CSS, so any bundler an embedding shell uses takes it as it is.

import { Settings } from "./store";

export type ThemeChoice = "system" | "light" | "dark";
export type ResolvedTheme = "light" | "dark";

const KEY = "theme";
const CHOICES: ThemeChoice[] = ["system", "light", "dark"];

function darkQuery(): MediaQueryList | null {
  return typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : null;
}

export class ThemeController {
  private readonly settings: Settings;
  private readonly query = darkQuery();
  private choiceValue: ThemeChoice;
  private readonly listeners: Array<(theme: ResolvedTheme) => void> = [];

  constructor(settings: Settings) {
    this.settings = settings;
    const saved = settings.get(KEY) as ThemeChoice | null;
    this.choiceValue = saved && CHOICES.includes(saved) ? saved : "system";
    this.query?.addEventListener("change", () => this.apply());
    this.apply();
  }

  get choice(): ThemeChoice {
    return this.choiceValue;
  }

  get resolved(): ResolvedTheme {
    if (this.choiceValue !== "system") return this.choiceValue;
    return this.query?.matches ? "dark" : "light";
  }

  /** Sets and remembers the choice ("system" forgets the override). */
  set(choice: ThemeChoice): void {
    this.choiceValue = CHOICES.includes(choice) ? choice : "system";
    this.settings.set(KEY, this.choiceValue === "system" ? null : this.choiceValue);
    this.apply();
  }

  onChange(listener: (theme: ResolvedTheme) => void): void {
    this.listeners.push(listener);
  }

  private apply(): void {
    const theme = this.resolved;
    const root = document.documentElement;
    root.dataset.theme = theme;
    root.style.colorScheme = theme;
    document.querySelector('meta[name="color-scheme"]')?.setAttribute("content", theme);
    for (const listener of this.listeners) listener(theme);
  }
}
