// What ui/src/transports/tauri.ts uses of @tauri-apps/plugin-shell (it takes the module as an
// untyped argument, so it does not depend on the package). main.ts assigns the real module to
// this type, so the type check fails if the plugin's API stops matching what the transport calls.

export interface ShellApi {
  Command: {
    sidecar(program: string, args: string[]): SidecarCommand;
  };
}

export interface SidecarCommand {
  stdout: { on(event: "data", listener: (data: string) => void): unknown };
  stderr: { on(event: "data", listener: (data: string) => void): unknown };
  on(event: "close", listener: (payload: { code: number | null; signal: number | null }) => void): unknown;
  on(event: "error", listener: (error: string) => void): unknown;
  spawn(): Promise<{ pid: number; write(data: string): Promise<void>; kill(): Promise<void> }>;
}
