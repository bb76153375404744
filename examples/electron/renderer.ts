// The window's entry point: ui/'s chat window over the Electron transport, which talks to the
// preload bridge (`window.sidecar`, preload.js). Built by `npm run build` (vite.config.mjs) into
// dist/, which main.js loads.

import "highlight.js/styles/github.css";
import "../../ui/src/style.css";
import { mountChat } from "../../ui/src/app/controller";
import { electronTransport } from "../../ui/src/transports/electron";

const root = document.getElementById("app");
if (!root) throw new Error("index.html has no #app");
// Called again to reconnect after the sidecar exits: each call is a new connection, so a new sidecar.
mountChat(root, { connect: () => electronTransport() });
