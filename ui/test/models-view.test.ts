// @vitest-environment jsdom
// The window's model pieces (src/app/models.ts) on a real frame: the picker's labels, the Tools
// toggle for a model without tools, the attach button for a vision model, what `methods` hides
// (and where the no-models notice points), and the progress text.

import { describe, expect, it } from "vitest";

import type { SidecarClient } from "../src/client";
import { ModelPanel, formatBytes, formatProgress } from "../src/app/models";
import { buildFrame } from "../src/app/view";
import type { ModelInfo } from "../src/protocol";

const model = (name: string, capabilities: string[]): ModelInfo => ({
  name, capabilities, size: 1, modified_at: "", family: "", parameter_size: "", quantization: "",
});

function setup() {
  const root = document.createElement("div");
  document.body.replaceChildren(root);
  const frame = buildFrame(root);
  const client = { runningModels: async () => [{ name: "text:latest" }] } as unknown as SidecarClient;
  const panel = new ModelPanel(frame, { client: async () => client, reloadModels: async () => {} });
  const models = [model("text:latest", ["completion", "tools"]), model("plain:latest", ["completion"]), model("vision:latest", ["completion", "vision"])];
  for (const m of models) frame.modelSelect.add(new Option(m.name, m.name));
  panel.setModels(models, client);
  const pick = (name: string) => {
    frame.modelSelect.value = name;
    frame.modelSelect.dispatchEvent(new Event("change"));
  };
  return { frame, panel, pick, root };
}

describe("the model panel", () => {
  it("labels each model with its capabilities and its loaded state", async () => {
    const { frame } = setup();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(Array.from(frame.modelSelect.options).map((o) => o.textContent)).toEqual([
      "text:latest · tools · loaded", "plain:latest", "vision:latest · vision",
    ]);
  });

  it("disables Tools with the reason for a model without tools, and offers images for a vision model", () => {
    const { frame, panel, pick, root } = setup();
    const attach = Array.from(root.querySelectorAll("button")).find((b) => b.textContent === "Attach images")!;
    pick("plain:latest");
    expect(frame.toolsToggle.disabled).toBe(true);
    expect(panel.toolsAllowed()).toBe(false);
    expect(root.querySelector("#tools-reason")!.textContent).toBe("plain:latest does not support tools");
    expect(attach.hidden).toBe(true);
    pick("vision:latest");
    expect(attach.hidden).toBe(false);
    pick("text:latest");
    expect(frame.toolsToggle.disabled).toBe(false);
  });

  it("hides what the provider cannot do", () => {
    const { panel, root } = setup();
    const button = (text: string) => Array.from(root.querySelectorAll("button")).find((b) => b.textContent === text)!;
    panel.setMethods(["chat", "list_models", "status"]);
    expect(button("Get a model").hidden).toBe(true);
    expect(button("Delete").hidden).toBe(true);
    panel.setMethods(undefined);
    expect(button("Get a model").hidden).toBe(false);
  });

  it("points a server without models at Get a model when it can pull, else at the terminal", () => {
    const { panel } = setup();
    panel.setMethods(["chat", "list_models", "status", "pull_model"]);
    expect(panel.noModelsNotice()).toContain("“Get a model”");
    expect(panel.noModelsNotice()).not.toContain("ollama pull");
    panel.setMethods(["chat", "list_models", "status"]);
    expect(panel.noModelsNotice()).toContain("Run `ollama pull <model>`");
    expect(panel.noModelsNotice()).not.toContain("Get a model");
  });

  it("writes percent, bytes and speed, and only the status before a size is known", () => {
    const p = { request_id: 1, model: "m", status: "pulling abc", total: 6_500_000, completed: 2_900_000 };
    expect(formatProgress(p, 1_200_000)).toBe("44% · 2.9 MB / 6.5 MB · 1.2 MB/s");
    expect(formatProgress({ ...p, completed: p.total }, 1_200_000)).toBe("100% · 6.5 MB / 6.5 MB");
    expect(formatProgress({ ...p, total: 0, completed: 0, status: "pulling manifest" }, 0)).toBe("pulling manifest");
    expect(formatBytes(999)).toBe("999 B");
  });
});
