// ShareDB peer for the dialogue-server load tests.
//
//   SHAREDB_PORT       listen port (default 8090)
//   SHAREDB_MONGO_URL  mongodb URI with a database name, e.g.
//                      mongodb://127.0.0.1:PORT/sharedb_bench?directConnection=true
//                      (required for the mongo backend)
//   SHAREDB_BACKEND    mongo (default) | memory (ShareDB's in-memory db)
//
// WebSocket (any path, the harness uses /): the raw ShareDB protocol.
// POST /reset?docs=N&blocks=B  recreate d0..d{N-1} in "dialogues" at version 1 -> 200 {"docs":N}
// GET  /healthz                -> 200 ok
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');
const ShareDB = require('sharedb');
const WebSocketJSONStream = require('@teamwork/websocket-json-stream');

const COLLECTION = 'dialogues';
const BATCH = 200; // documents created concurrently during a reset

const port = Number(process.env.SHAREDB_PORT || 8090);
const backendKind = process.env.SHAREDB_BACKEND || 'mongo';
const mongoUrl = process.env.SHAREDB_MONGO_URL;

let db = null; // null -> ShareDB's default MemoryDB
if (backendKind === 'mongo') {
  if (!mongoUrl) {
    console.error('SHAREDB_MONGO_URL is required when SHAREDB_BACKEND=mongo');
    process.exit(2);
  }
  db = require('sharedb-mongo')(mongoUrl);
} else if (backendKind !== 'memory') {
  console.error(`SHAREDB_BACKEND must be mongo or memory, not ${backendKind}`);
  process.exit(2);
}
const backend = new ShareDB(db ? { db } : {});
const admin = backend.connect(); // server-side client used by /reset

function dialogue(blocks) {
  const list = [];
  for (let i = 0; i < blocks; i++) {
    list.push({ id: `b${i}`, type: 'message', properties: { text: 't' } });
  }
  return {
    title: 'Bench',
    is_archived: false,
    sequences: [{ id: 'start', title: 'Start', blocks: list }],
  };
}

// Remove the snapshots and op logs outright, so the recreated documents start at version 1.
async function wipe() {
  if (backendKind === 'memory') {
    delete backend.db.docs[COLLECTION];
    delete backend.db.ops[COLLECTION];
    return;
  }
  const mongo = await new Promise((resolve, reject) =>
    backend.db.getDbs((err, m) => (err ? reject(err) : resolve(m))));
  // deleteMany rather than drop keeps the op index sharedb-mongo created once.
  await mongo.collection(COLLECTION).deleteMany({});
  await mongo.collection(`o_${COLLECTION}`).deleteMany({});
}

function createDoc(id, data) {
  return new Promise((resolve, reject) => {
    const doc = admin.get(COLLECTION, id);
    doc.create(data, 'json0', (err) => {
      doc.destroy();
      if (err) reject(err); else resolve();
    });
  });
}

async function reset(docs, blocks) {
  await wipe();
  for (let start = 0; start < docs; start += BATCH) {
    const batch = [];
    for (let i = start; i < Math.min(docs, start + BATCH); i++) {
      batch.push(createDoc(`d${i}`, dialogue(blocks)));
    }
    await Promise.all(batch);
  }
}

let resetChain = Promise.resolve(); // resets run one at a time

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  } else if (req.method === 'POST' && url.pathname === '/reset') {
    const docs = Number(url.searchParams.get('docs') || 1);
    const blocks = Number(url.searchParams.get('blocks') || 10);
    if (!Number.isInteger(docs) || docs < 0 || !Number.isInteger(blocks) || blocks < 0) {
      return reply(res, 400, { error: 'docs and blocks must be non-negative integers' });
    }
    resetChain = resetChain.then(() => reset(docs, blocks)).then(
      () => reply(res, 200, { docs }),
      (err) => { console.error('reset failed:', err); reply(res, 500, { error: String(err) }); });
  } else {
    reply(res, 404, { error: 'not found' });
  }
});

const wss = new WebSocketServer({ server });
wss.on('connection', (ws, req) => {
  const stream = new WebSocketJSONStream(ws);
  // A client may close while ShareDB is still writing to it: that must not crash the server.
  stream.on('error', (error) => {
    if (error && error.code !== 'ERR_CLOSED') console.error('stream error:', error.message);
  });
  backend.listen(stream, req);
});

server.listen(port, () => {
  console.log(`sharedb backend: ${backendKind}`);
  console.log(`sharedb listening on ${server.address().port}`);
});

function shutdown(signal) {
  console.log(`sharedb: ${signal}, shutting down`);
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  server.close();
  backend.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
