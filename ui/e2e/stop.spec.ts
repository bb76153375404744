// Stop really stops: the Stop button and Esc each send exactly one cancel_chat for the running
// chat (counted on the wire by the dev shell), no text arrives after it, the partial reply stays
// with a "Stopped" mark, and the next message streams at once.
import { expect, painted, test, until, type Chat, type Shell } from "./fixtures";

const normalize = (text: string) => text.replace(/\s+/g, " ").trim();

async function stopMidStream(chat: Chat, shell: Shell, how: "button" | "escape") {
  await chat.open();
  await chat.pickModel("long:latest");
  const mark = await chat.say("Count to a thousand, please.");
  await expect(chat.lastAssistant).toHaveAttribute("data-streaming", "true");
  await expect(chat.lastAssistant).toContainText("tok8 ");
  if (how === "button") await chat.stop.click();
  else await chat.page.keyboard.press("Escape");

  const reply = chat.lastAssistant;
  await expect(reply).not.toHaveAttribute("data-streaming", "true");
  await expect(chat.page.getByText("Stopped", { exact: true })).toBeVisible();
  const shown = normalize((await reply.textContent()) ?? "");
  expect(shown).toMatch(/^tok1 tok2 tok3 .* tok\d+$/);

  // On the wire: one chat, exactly one cancel_chat naming it, answered "cancelled" with the
  // partial text, and nothing for that chat after its response.
  const request = await until(() => chat.chatsSince(mark)[0]);
  await until(() => shell.received(mark).some((m) => m.id === request.id));
  const cancels = shell.sent(mark).filter((m) => m.method === "cancel_chat");
  expect(cancels).toHaveLength(1);
  expect(cancels[0].params).toEqual({ chat_id: request.id });
  const received = shell.received(mark);
  const at = received.findIndex((m) => m.id === request.id);
  expect(received[at].result.done_reason).toBe("cancelled");
  expect(received.slice(at + 1).filter((m) => m.params?.chat_id === request.id)).toEqual([]);
  // What is shown is what had arrived when Stop was pressed: a prefix of the cancelled result
  // (tokens already in flight may complete the result but are not shown).
  expect(normalize(received[at].result.messages.at(-1).content).startsWith(shown)).toBe(true);

  // No text after the stop: the cancelled result was the chat's last line (above), and the
  // window has painted since.
  await painted(chat.page);
  expect(normalize((await reply.textContent()) ?? "")).toBe(shown);
  return { mark, shown };
}

async function nextMessageStreams(chat: Chat, shell: Shell, mark: number, shown: string) {
  await expect(chat.stop).toBeHidden();
  await chat.pickModel("text:latest");
  await chat.message.fill("And now a short one.");
  await expect(chat.send).toBeEnabled();
  await chat.message.press("Enter");
  await expect(chat.assistants).toHaveCount(2);
  await expect(chat.lastAssistant).toContainText("The sky looks blue because air scatters blue & violet light more.");
  await chat.settled();
  const second = await until(() => chat.chatsSince(mark)[1]);
  await until(() => shell.received(mark).some((m) => m.id === second.id));
  expect(shell.sent(mark).filter((m) => m.method === "cancel_chat")).toHaveLength(1);
  // The next message continues the thread after the stopped reply, which the sidecar stored
  // (interrupted) with the text the window received.
  const first = chat.chatsSince(mark)[0];
  const stopped = shell.received(mark).find((m) => m.id === first.id)!.result;
  expect(second.params.thread_id).toBe(first.params.thread_id);
  expect(second.params.messages).toEqual([{ role: "user", content: "And now a short one." }]);
  expect(second.params.after).toBe(stopped.message_ids.at(-1));
  expect(normalize(stopped.messages.at(-1).content).startsWith(shown)).toBe(true);
}

test("Stop mid-stream: one cancel_chat, no text after it, partial kept as Stopped, Send works", async ({ chat, shell }) => {
  const { mark, shown } = await stopMidStream(chat, shell, "button");
  await chat.screenshot("stopped");
  await nextMessageStreams(chat, shell, mark, shown);
});

test("Esc mid-stream does the same as Stop", async ({ chat, shell }) => {
  const { mark, shown } = await stopMidStream(chat, shell, "escape");
  await nextMessageStreams(chat, shell, mark, shown);
});
