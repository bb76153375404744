// The window's model lifecycle: what each model can do and whether it is loaded, warming a model
// when it is picked, "Get a model" (pull with a progress bar and Cancel), Delete with a
// confirmation, and images for a vision model.
//
// Why it is a module of its own: the chat controller (controller.ts) only fills the picker and
// sends chats; everything about models lives here and reaches the controller through three small
// hooks (`setModels` after list_models, `takeImages` on Send, `toolsAllowed` when building a
// chat). The elements are added next to the picker, under the header and in the composer, so
// the frame (view.ts) stays as it is. Accessible names here are a contract of the e2e tests:
// "Get a model", "Model name", "Download", "Download progress", "Cancel", "Delete",
// "Delete model", "Keep", "Attach images", "Model capabilities", "Model state".

import { ClosedError, RpcError, type PullHandle, type PullProgress, type SidecarClient } from "../client";
import type { ModelInfo } from "../protocol";
import "./models.css";
import { h, type Frame } from "./view";

export interface ModelHooks {
  /** The connected client (connecting first when needed). */
  client(): Promise<SidecarClient>;
  /** Asks list_models again and refills the picker (which calls `setModels`). */
  reloadModels(select?: string): Promise<void>;
}

const SHOWN_CAPABILITIES = ["tools", "thinking", "vision"];
const PULL_TICK_MS = 250;

export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let unit = 0;
  while (n >= 1000 && unit < units.length - 1) {
    n /= 1000;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${n.toFixed(1)} ${units[unit]}`;
}

/** "45% · 2.9 MB / 6.5 MB · 1.2 MB/s" (speed only while it is known and not done). */
export function formatProgress(p: PullProgress, bytesPerSecond: number): string {
  if (!p.total) return p.status;
  const percent = Math.min(100, Math.floor((p.completed / p.total) * 100));
  const parts = [`${percent}%`, `${formatBytes(p.completed)} / ${formatBytes(p.total)}`];
  if (bytesPerSecond > 0 && p.completed < p.total) parts.push(`${formatBytes(bytesPerSecond)}/s`);
  return parts.join(" · ");
}

function errorText(err: unknown): string {
  if (err instanceof RpcError) return err.hint ? `${err.message} ${err.hint}` : err.message;
  return err instanceof Error ? err.message : String(err);
}

function readBase64(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** A thumbnail of a base64 image (browsers sniff the real image type). */
export function thumbnail(base64: string, label: string): HTMLImageElement {
  const img = h("img", { class: "thumb", src: `data:image/png;base64,${base64}`, alt: label });
  return img;
}

export class ModelPanel {
  private readonly capabilities = new Map<string, string[]>();
  private readonly loaded = new Set<string>();
  private readonly caps: HTMLElement;
  private readonly state: HTMLElement;
  private readonly toolsReason: HTMLElement;
  private readonly getButton: HTMLButtonElement;
  private readonly deleteButton: HTMLButtonElement;
  private readonly panel: HTMLElement;
  private readonly nameInput: HTMLInputElement;
  private readonly download: HTMLButtonElement;
  private readonly cancel: HTMLButtonElement;
  private readonly bar: HTMLProgressElement;
  private readonly barText: HTMLElement;
  private readonly pullStatus: HTMLElement;
  private readonly dialog: HTMLDialogElement;
  private readonly attach: HTMLButtonElement;
  private readonly fileInput: HTMLInputElement;
  private readonly attachments: HTMLElement;
  private images: string[] = [];
  /** The methods the sidecar serves with its provider (`sidecar:ready.methods`); null: all. */
  private methods: Set<string> | null = null;
  private pull: PullHandle | null = null;
  private loadSeq = 0;

  constructor(private readonly frame: Frame, private readonly hooks: ModelHooks) {
    const select = frame.modelSelect;
    this.caps = h("span", { class: "model-caps", role: "group", "aria-label": "Model capabilities" });
    this.state = h("span", { class: "model-state", role: "status", "aria-label": "Model state" });
    this.getButton = h("button", { type: "button", class: "ghost", "aria-expanded": "false", text: "Get a model" });
    this.deleteButton = h("button", { type: "button", class: "ghost danger", title: "Delete the selected model from Ollama", text: "Delete" });
    select.after(this.caps, this.state, this.deleteButton, this.getButton);
    this.toolsReason = h("span", { id: "tools-reason", class: "tools-reason", hidden: true });
    frame.toolsToggle.closest("label")?.after(this.toolsReason);

    this.nameInput = h("input", { type: "text", id: "pull-name", "aria-label": "Model name", placeholder: "e.g. llama3.2 or qwen3:8b", spellcheck: "false" });
    this.download = h("button", { type: "submit", class: "primary", text: "Download" });
    this.cancel = h("button", { type: "button", hidden: true, text: "Cancel" });
    this.bar = h("progress", { max: "100", value: "0", "aria-label": "Download progress", hidden: true });
    this.barText = h("span", { class: "pull-progress" });
    this.pullStatus = h("div", { class: "pull-status", role: "status" });
    const form = h("form", { class: "get-model-form", autocomplete: "off" }, this.nameInput, this.download, this.cancel);
    this.panel = h("section", { class: "get-model", "aria-label": "Get a model", hidden: true }, form, h("div", { class: "pull-row" }, this.bar, this.barText), this.pullStatus);
    frame.root.querySelector("header")?.after(this.panel);

    this.dialog = h("dialog", { class: "confirm", "aria-label": "Delete model" });
    frame.root.append(this.dialog);

    this.attach = h("button", { type: "button", class: "ghost attach", hidden: true, title: "Add images for the model to see", text: "Attach images" });
    this.fileInput = h("input", { type: "file", accept: "image/*", multiple: true, hidden: true, "aria-label": "Image files" });
    this.attachments = h("div", { class: "attachments", role: "group", "aria-label": "Attached images", hidden: true });
    frame.form.prepend(this.attachments);
    frame.form.querySelector(".composer-actions")?.prepend(this.attach, this.fileInput);

    select.addEventListener("change", () => {
      this.update();
      void this.warm(select.value);
    });
    this.getButton.addEventListener("click", () => this.togglePanel());
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.startPull();
    });
    this.cancel.addEventListener("click", () => void this.pull?.cancel().catch(() => {}));
    this.deleteButton.addEventListener("click", () => this.confirmDelete());
    this.attach.addEventListener("click", () => this.fileInput.click());
    this.fileInput.addEventListener("change", () => void this.addFiles());
    this.update();
  }

  // --- the picker -----------------------------------------------------------------------------

  /** From `sidecar:ready`: what the server cannot do is hidden (an OpenAI-compatible server has
   * no pull, delete or load). */
  setMethods(methods: string[] | undefined): void {
    this.methods = methods ? new Set(methods) : null;
    const can = (m: string) => this.can(m);
    this.getButton.hidden = !can("pull_model");
    if (!can("pull_model")) this.togglePanel(false);
    this.deleteButton.hidden = !can("delete_model");
    this.state.hidden = !can("load_model");
  }

  /** The notice for a server without models: "Get a model" when it can pull, else the terminal. */
  noModelsNotice(): string {
    return this.can("pull_model")
      ? "Ollama has no models installed. Use “Get a model” to download one."
      : "Ollama has no models installed. Run `ollama pull <model>` to get one.";
  }

  private can(method: string): boolean {
    return this.methods === null || this.methods.has(method);
  }

  /** After list_models filled the picker: labels with capabilities, then the loaded state. */
  setModels(models: ModelInfo[], client: SidecarClient): void {
    for (const m of models) this.capabilities.set(m.name, m.capabilities ?? []);
    this.relabel();
    this.update();
    void this.refreshRunning(client);
  }

  private async refreshRunning(client: SidecarClient): Promise<void> {
    if (!this.can("running_models")) return;
    try {
      const running = await client.runningModels();
      this.loaded.clear();
      for (const m of running) this.loaded.add(m.name);
    } catch {
      return; // another provider (not_supported) or Ollama away: the state stays unknown
    }
    this.relabel();
    this.update();
  }

  private relabel(): void {
    for (const option of Array.from(this.frame.modelSelect.options)) {
      const caps = (this.capabilities.get(option.value) ?? []).filter((c) => SHOWN_CAPABILITIES.includes(c));
      const parts = [option.value, ...caps];
      if (this.loaded.has(option.value)) parts.push("loaded");
      option.textContent = parts.join(" · ");
      option.dataset.capabilities = (this.capabilities.get(option.value) ?? []).join(" ");
      option.dataset.loaded = String(this.loaded.has(option.value));
    }
  }

  /** What the selected model can do, shown next to the picker; the Tools toggle and the attach
   * button follow it. A model whose capabilities are unknown keeps everything enabled. */
  private update(): void {
    const name = this.frame.modelSelect.value;
    const caps = this.capabilities.get(name) ?? [];
    this.caps.replaceChildren(
      ...caps.filter((c) => SHOWN_CAPABILITIES.includes(c)).map((c) => h("span", { class: `cap cap-${c}`, text: c })),
    );
    const toggle = this.frame.toolsToggle;
    const noTools = caps.length > 0 && !caps.includes("tools");
    toggle.disabled = noTools;
    this.toolsReason.hidden = !noTools;
    this.toolsReason.textContent = noTools ? `${name} does not support tools` : "";
    const label = toggle.closest("label");
    if (noTools) {
      toggle.setAttribute("aria-describedby", "tools-reason");
      label?.setAttribute("title", `${name} does not support tools`);
    } else {
      toggle.removeAttribute("aria-describedby");
      label?.setAttribute("title", "Let the model use the project tools");
    }
    const vision = caps.includes("vision");
    this.attach.hidden = !vision;
    if (!vision && this.images.length) this.clearImages();
    this.deleteButton.disabled = !name;
    if (this.state.dataset.state !== "loading" || this.state.dataset.model !== name) {
      this.setState(this.loaded.has(name) ? "loaded" : "idle", name);
    }
  }

  private setState(state: "idle" | "loading" | "loaded" | "error", model: string, detail = ""): void {
    this.state.dataset.state = state;
    this.state.dataset.model = model;
    const text = { idle: "", loading: "Loading…", loaded: "Loaded", error: `Could not load: ${detail}` }[state];
    this.state.textContent = text;
    this.state.title = state === "loading" ? `Loading ${model} into memory` : text;
  }

  /** Whether a chat may offer tools with the selected model. */
  toolsAllowed(): boolean {
    return !this.frame.toolsToggle.disabled;
  }

  /** load_model for the picked model, with a visible "Loading…" until it is in memory. */
  private async warm(name: string): Promise<void> {
    if (!name || !this.can("load_model")) return;
    const seq = ++this.loadSeq;
    this.setState("loading", name);
    try {
      const client = await this.hooks.client();
      await client.loadModel(name);
      this.loaded.add(name);
      if (seq !== this.loadSeq) return;
      this.setState("loaded", name);
      this.relabel();
      void this.refreshRunning(client);
    } catch (err) {
      if (seq !== this.loadSeq || err instanceof ClosedError) return;
      if (err instanceof RpcError && err.kind === "not_supported") this.setState("idle", name);
      else this.setState("error", name, errorText(err));
    }
  }

  // --- Get a model ------------------------------------------------------------------------------

  private togglePanel(open = this.panel.hidden): void {
    this.panel.hidden = !open;
    this.getButton.setAttribute("aria-expanded", String(open));
    if (open) this.nameInput.focus();
  }

  private async startPull(): Promise<void> {
    const model = this.nameInput.value.trim();
    if (!model || this.pull) return;
    const started = performance.now();
    let last: PullProgress | null = null;
    let shownAt = 0;
    let later: ReturnType<typeof setTimeout> | null = null;
    const show = (p: PullProgress, force = false): void => {
      last = p;
      const now = performance.now();
      if (!force && now - shownAt < PULL_TICK_MS) {
        // Held back, not dropped: the latest progress is shown when its tick comes.
        later ??= setTimeout(() => {
          later = null;
          if (last) show(last, true);
        }, PULL_TICK_MS - (now - shownAt));
        return;
      }
      if (later !== null) {
        clearTimeout(later);
        later = null;
      }
      shownAt = now;
      const seconds = (now - started) / 1000;
      const speed = seconds > 0.2 ? p.completed / seconds : 0;
      if (p.total) {
        this.bar.max = p.total;
        this.bar.value = p.completed;
      }
      this.barText.textContent = formatProgress(p, speed);
      this.pullStatus.textContent = p.status;
    };
    this.download.disabled = true;
    this.nameInput.disabled = true;
    this.cancel.hidden = false;
    this.bar.hidden = false;
    this.bar.removeAttribute("value"); // indeterminate until a size is known
    this.barText.textContent = "";
    this.pullStatus.textContent = `Downloading ${model}…`;
    try {
      const client = await this.hooks.client();
      this.pull = client.pullModel(model, { onProgress: (p) => show(p, p.status !== last?.status) });
      const result = await this.pull.result;
      if (last) show(last, true);
      if (result.status === "success") {
        this.bar.value = this.bar.max;
        this.pullStatus.textContent = `Downloaded ${model}.`;
        this.nameInput.value = "";
        await this.hooks.reloadModels(model);
      } else {
        this.pullStatus.textContent = `Cancelled: ${formatBytes(result.completed ?? 0)} of ${formatBytes(result.total ?? 0)} downloaded (a later download resumes).`;
      }
    } catch (err) {
      this.pullStatus.textContent = `Could not download ${model}: ${errorText(err)}`;
    } finally {
      if (later !== null) clearTimeout(later);
      this.pull = null;
      this.download.disabled = false;
      this.nameInput.disabled = false;
      this.cancel.hidden = true;
    }
  }

  // --- Delete -----------------------------------------------------------------------------------

  private confirmDelete(): void {
    const name = this.frame.modelSelect.value;
    if (!name) return;
    const confirm = h("button", { type: "button", class: "danger", text: "Delete model" });
    const keep = h("button", { type: "button", class: "ghost", text: "Keep" });
    this.dialog.replaceChildren(
      h("p", { text: `Delete ${name}? It is removed from Ollama's disk; you can download it again later.` }),
      h("div", { class: "confirm-actions" }, keep, confirm),
    );
    keep.addEventListener("click", () => this.dialog.close());
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      try {
        const client = await this.hooks.client();
        await client.deleteModel(name);
        this.dialog.close();
        this.capabilities.delete(name);
        this.loaded.delete(name);
        this.frame.modelSelect.querySelector(`option[value="${CSS.escape(name)}"]`)?.remove();
        await this.hooks.reloadModels();
      } catch (err) {
        this.dialog.append(h("p", { class: "error", role: "alert", text: `Could not delete ${name}: ${errorText(err)}` }));
        confirm.disabled = false;
      }
    });
    this.dialog.showModal();
    keep.focus();
  }

  // --- images for a vision model ------------------------------------------------------------------

  private async addFiles(): Promise<void> {
    const files = Array.from(this.fileInput.files ?? []);
    this.fileInput.value = "";
    for (const file of files) {
      const base64 = await readBase64(file);
      this.images.push(base64);
      const remove = h("button", { type: "button", class: "remove", "aria-label": `Remove ${file.name}`, text: "×" });
      const item = h("span", { class: "attachment" }, thumbnail(base64, file.name), remove);
      remove.addEventListener("click", () => {
        const index = Array.from(this.attachments.children).indexOf(item);
        if (index >= 0) this.images.splice(index, 1);
        item.remove();
        this.attachments.hidden = this.images.length === 0;
      });
      this.attachments.append(item);
    }
    this.attachments.hidden = this.images.length === 0;
  }

  private clearImages(): void {
    this.images = [];
    this.attachments.replaceChildren();
    this.attachments.hidden = true;
  }

  /** The images attached for the next message (base64, as Ollama takes them); clears them. */
  takeImages(): string[] {
    const images = this.images;
    this.clearImages();
    return images;
  }
}
