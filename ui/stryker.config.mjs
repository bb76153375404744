// StrykerJS for ui/src (issue 13; how to run it and the latest results: docs/testing.md, "Stryker
// for ui/src"). Run it with `scripts/mutate --ui` from the repository root, never from CI: each
// mutant re-runs the Vitest tests (ui/test) that cover it. The modules are the ones that carry
// the wire contract in the window: the JSON-RPC client, the transports and their line framing,
// and what turns chat events and stored messages into what the window shows.

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vite.config.ts" },
  coverageAnalysis: "perTest",
  mutate: [
    "src/client.ts",
    "src/transports/channel.ts",
    "src/transports/electron.ts",
    "src/transports/websocket.ts",
    "src/transports/tauri.ts",
    "src/app/approval.ts",
    // ToolCard and AssistantReply: chat events and stored messages -> the reply the window shows.
    "src/app/view.ts:224-627",
    // groupRows: a thread's stored messages -> the rows of the conversation.
    "src/app/threads.ts:62-72",
  ],
  // Two cores shared by everyone on the machine.
  concurrency: Number(process.env.MUTATE_JOBS ?? 2),
  timeoutMS: 20000,
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
};
