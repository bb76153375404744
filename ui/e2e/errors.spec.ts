// Each kind of failure shows an alert with the sidecar's message and hint, keeps the partial text
// above it, and Retry sends the chat again. Models the scripted Ollama does not list (its error
// scenarios) are added to the Model picker by the test, as a person would pick a missing model.
import { expect, test, until } from "./fixtures";

const CASES = [
  { model: "midstream-error:latest", kind: "upstream_error", hint: "The model failed while generating", partial: "Once upon a time" },
  { model: "drop:latest", kind: "stream_interrupted", hint: "The partial reply is kept", partial: "This is cut" },
  { model: "not-found:latest", kind: "model_not_found", hint: "Pull it with the pull_model method (in a terminal: `ollama pull not-found:latest`)", partial: null },
  { model: "busy:latest", kind: "upstream_error", hint: "Ollama is busy; try again in a moment.", partial: null },
  { model: "server-error:latest", kind: "upstream_error", hint: null, partial: null },
] as const;

for (const c of CASES) {
  test(`${c.model.replace(":latest", "")}: alert with its hint, partial text kept, Retry sends again`, async ({ chat, shell }) => {
    await chat.open();
    await chat.pickModel(c.model);
    const mark = await chat.say("Hello there");
    const alert = chat.alert;
    await expect(alert).toBeVisible();
    await expect(alert).toHaveCount(1);
    if (c.hint) await expect(alert).toContainText(c.hint);
    const request = await until(() => chat.chatsSince(mark)[0]);
    const answer = await until(() => shell.received(mark).find((m) => m.id === request.id));
    expect(answer.error?.data?.kind).toBe(c.kind);
    await expect(alert).toContainText(answer.error.message);
    await expect(chat.lastAssistant).not.toHaveAttribute("data-streaming", "true");
    if (c.partial) {
      await expect(chat.lastAssistant).toContainText(c.partial);
      // the partial reply is above the alert
      const replyBox = (await chat.lastAssistant.boundingBox())!;
      const alertBox = (await alert.boundingBox())!;
      expect(replyBox.y + replyBox.height).toBeLessThanOrEqual(alertBox.y + 1);
    }
    if (c.model === "midstream-error:latest") await chat.screenshot("error");

    await alert.getByRole("button", { name: "Retry" }).click();
    const retry = await until(() => chat.chatsSince(mark)[1]);
    expect(retry.id).not.toBe(request.id);
    expect(retry.params.model).toBe(c.model);
    // The first chat stored the message in a thread; Retry is a new version of the reply.
    expect(request.params.messages).toEqual([{ role: "user", content: "Hello there" }]);
    expect(retry.params.thread_id).toBe(request.params.thread_id);
    expect(retry.params.messages ?? []).toEqual([]);
    expect(typeof retry.params.after).toBe("string");
    const second = await until(() => shell.received(mark).find((m) => m.id === retry.id));
    expect(second.error?.data?.kind).toBe(c.kind);
    await expect(chat.alert).toHaveCount(1);
    await expect(chat.alert).toBeVisible();
    await expect(chat.users).toHaveCount(1);
  });
}

test("Retry after picking an installed model gets a full reply", async ({ chat }) => {
  await chat.open();
  await chat.pickModel("not-found:latest");
  await chat.say("Why is the sky blue?");
  await expect(chat.alert).toContainText("ollama pull not-found:latest");
  await chat.pickModel("text:latest");
  await chat.alert.getByRole("button", { name: "Retry" }).click();
  await expect(chat.lastAssistant).toContainText("The sky looks blue because air scatters blue & violet light more.");
  await chat.settled();
  await expect(chat.alert).toHaveCount(0);
  await expect(chat.users).toHaveCount(1);
});
