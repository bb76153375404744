// Ollama not running: the shell points the sidecars at a port nobody listens on (--no-fallback,
// so no scripted Ollama steps in). The window must say so with the sidecar's hint, and Retry must
// ask again. The sidecars get `--model` so a chat is valid even with an empty model list.
import { expect, test, until } from "./fixtures";

test.use({ shellOptions: { scripted: false, ollamaUrl: "http://127.0.0.1:9", sidecarArgs: ["--model", "llama3.2"] } });

test("Ollama not running: an alert with the hint, and Retry asks again", async ({ chat, page, shell }) => {
  await chat.open({ models: false });
  await expect(page.getByText("scripted model", { exact: true })).toBeHidden();
  const mark = await chat.say("Is anybody there?");
  const alert = chat.alert.filter({ hasText: "Start Ollama" }).last();
  await expect(alert).toBeVisible();
  await expect(alert).toContainText("Ollama is not reachable at http://127.0.0.1:9");
  const request = await until(() => chat.chatsSince(mark)[0]);
  const answer = await until(() => shell.received(mark).find((m) => m.id === request.id));
  expect(answer.error?.data?.kind).toBe("ollama_unreachable");
  await alert.getByRole("button", { name: "Retry" }).click();
  const retry = await until(() => chat.chatsSince(mark)[1]);
  const second = await until(() => shell.received(mark).find((m) => m.id === retry.id));
  expect(second.error?.data?.kind).toBe("ollama_unreachable");
  await expect(chat.alert).toHaveCount(1);
  await expect(chat.alert).toContainText("Start Ollama");
  await expect(chat.users).toHaveCount(1);
});
