// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { SettingsPanel, applySettings, cleanSettings } from "../src/app/chat-settings";

const base = { messages: [{ role: "user", content: "hi" }], model: "m" };

describe("a conversation's settings on the wire", () => {
  it("sends nothing extra by default", () => {
    expect(applySettings(base, {}, true)).toEqual(base);
  });

  it("sends temperature and num_ctx as options, think, and the system prompt first", () => {
    const params = applySettings({ ...base, options: { seed: 1 } }, { temperature: 0, contextLength: 4096, think: true, system: "Be brief." }, true);
    expect(params).toEqual({
      model: "m",
      options: { seed: 1, temperature: 0, num_ctx: 4096 },
      think: true,
      messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "hi" }],
    });
  });

  it("does not send think for a model that does not think", () => {
    expect(applySettings(base, { think: false }, false).think).toBeUndefined();
  });

  it("keeps only well-formed stored values", () => {
    expect(cleanSettings({ temperature: 9, contextLength: 12.5, think: "yes", system: "" })).toEqual({});
    expect(cleanSettings({ temperature: 0.7, contextLength: 8192, think: false, system: "s" })).toEqual({ temperature: 0.7, contextLength: 8192, think: false, system: "s" });
  });

  it("the panel reports edits, and Thinking only once it has been touched", () => {
    const panel = new SettingsPanel();
    const seen: unknown[] = [];
    panel.onChange((s) => seen.push(s));
    panel.show({});
    panel.temperature.value = "0.3";
    panel.temperature.dispatchEvent(new Event("input"));
    expect(seen.at(-1)).toEqual({ temperature: 0.3 });
    panel.thinking.checked = false;
    panel.thinking.dispatchEvent(new Event("change"));
    expect(seen.at(-1)).toEqual({ temperature: 0.3, think: false });
    panel.contextLength.value = "100";
    panel.contextLength.dispatchEvent(new Event("input"));
    expect(seen.at(-1)).toEqual({ temperature: 0.3, think: false, contextLength: 256 });
  });
});
