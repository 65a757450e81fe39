// The client's own cost, in the load harness's `hot` scenario: 50 editors on one dialogue, each
// changing its own block, closed loop (the next change once the last is acknowledged). One of
// them is a `LiveDialogue` in this process (the measured client); the others are bare sockets
// in a child process, so that their work does not count here. Prints the measured client's own
// change rate, the revisions it took in per second, and this process's CPU.
//
//   node bench/hot.js http://127.0.0.1:8080 EMAIL PASSWORD [editors=50] [seconds=8]
import { fork } from "node:child_process";
import WebSocket from "ws";

import { DialogueApi, LiveDialogue } from "../src/index.js";

if (process.argv[2] === "--others") {
  // The child: editors 1..n-1 as bare sockets.
  process.setMaxListeners(0);
  const [, , , url, token, project, dialogue, editors, seconds] = process.argv;
  const deadline = Date.now() + Number(seconds) * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: Number(editors) - 1 }, (_, k) => {
      const i = k + 1;
      return new Promise((resolve) => {
        const socket = new WebSocket(`${url.replace("http", "ws")}/projects/${project}/dialogues/${dialogue}/live?access_token=${token}`);
        let newest = 0;
        let n = 0;
        const send = () => {
          if (Date.now() >= deadline) return resolve(socket.close());
          socket.send(JSON.stringify({ type: "patch", ref: `o${i}-${n}`, base_revision: newest, patch: [{ op: "replace", path: `/sequences/0/blocks/${i}/properties/text`, value: `o${i}-${n++}` }] }));
        };
        socket.on("message", (data) => {
          const frame = JSON.parse(String(data));
          if (frame.type === "welcome") {
            newest = frame.revision.number;
            process.send?.("ready");
          } else if (frame.type === "go") {
            send();
          } else if (frame.revision?.number) {
            newest = Math.max(newest, frame.revision.number);
            if (frame.type === "ack" || frame.type === "error") {
              count++;
              send();
            }
          } else if (frame.type === "error") {
            send();
          }
        });
        process.on("message", (message) => message === "go" && send());
      });
    }),
  );
  process.send?.({ done: count });
  process.exit(0);
}

const [url, email, password, editorsArg = "50", secondsArg = "8"] = process.argv.slice(2);
const editors = Number(editorsArg);
const seconds = Number(secondsArg);
const api = new DialogueApi({ url });
await api.signIn(email, password);
const project = await api.createProject("js bench");
const blocks = Array.from({ length: editors }, (_, i) => ({ id: `b${i}`, type: "message", properties: { text: "t" } }));
const dialogue = await api.createDialogue(project.id, { title: "Bench", sequences: [{ id: "start", title: "Start", blocks }] });
const live = new LiveDialogue({ url, project: project.id, dialogue: dialogue.id, token: api.token, WebSocket: /** @type {any} */ (WebSocket) });
await live.open();
const others = fork(new URL(import.meta.url).pathname, ["--others", url, /** @type {string} */ (api.token), project.id, dialogue.id, editorsArg, secondsArg]);
let ready = 0;
/** @type {Promise<number>} */
const othersDone = new Promise((resolve) => others.on("message", (message) => (typeof message === "object" ? resolve(/** @type {any} */ (message).done) : undefined)));
await new Promise((resolve) => others.on("message", (message) => message === "ready" && ++ready === editors - 1 && resolve(undefined)));
let mine = 0;
let received = 0;
live.addEventListener("revision", () => received++);
const started = performance.now();
const cpu = process.cpuUsage();
const deadline = started + seconds * 1000;
others.send("go");
await new Promise((resolve) => {
  let n = 0;
  const edit = () => {
    if (performance.now() >= deadline) return resolve(undefined);
    live.submit([{ op: "replace", path: "/sequences/0/blocks/0/properties/text", value: `m${n++}` }]);
  };
  live.addEventListener("ack", () => {
    mine++;
    edit();
  });
  live.addEventListener("error", () => edit());
  edit();
});
const elapsed = (performance.now() - started) / 1000;
const used = process.cpuUsage(cpu);
const othersCount = await othersDone;
live.close();
console.log(
  JSON.stringify({
    editors,
    seconds: Number(elapsed.toFixed(2)),
    all_revisions_per_s: Math.round((mine + othersCount) / elapsed),
    others_per_editor_per_s: Number((othersCount / (editors - 1) / elapsed).toFixed(1)),
    measured_client_per_s: Number((mine / elapsed).toFixed(1)),
    measured_client_received_per_s: Math.round(received / elapsed),
    measured_client_cpu_cores: Number(((used.user + used.system) / 1e6 / elapsed).toFixed(2)),
  }),
);
process.exit(0);
