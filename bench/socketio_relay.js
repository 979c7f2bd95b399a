// Socket.IO relay of Backchannel's messages: what a team would otherwise pick for a quick
// private line. In memory, no validation, no durability. Rooms per session; the same
// hello / send / sent / event messages as the real server, so one load generator drives both.
// Run: node bench/socketio_relay.js PORT   (socket.io from bench/.node, installed by bench.run)
"use strict";
const path = require("path");
const http = require("http");
const { Server } = require(path.join(__dirname, ".node", "node_modules", "socket.io"));

const port = Number(process.argv[2]);
const rooms = new Map(); // session -> {events: [], ids: Map}

const httpServer = http.createServer();
const io = new Server(httpServer, {
  transports: ["websocket"],
  maxHttpBufferSize: 16 * 1024,
  pingInterval: 25000,
  pingTimeout: 20000,
});

io.on("connection", (socket) => {
  let room = null;
  let sid = null;
  let role = null;
  socket.on("hello", (hello) => {
    if (room !== null || !hello || typeof hello.token !== "string") return;
    [sid, role] = hello.token.split(":");
    room = rooms.get(sid);
    if (!room) {
      room = { events: [], ids: new Map() };
      rooms.set(sid, room);
    }
    socket.emit("welcome", { protocol: 1, last_seq: room.events.length });
    const since = Number(hello.since) || 0;
    for (const ev of room.events.slice(since)) socket.emit("event", ev);
    socket.join(sid);
  });
  socket.on("send", (msg) => {
    if (room === null || !msg) return;
    let seq = room.ids.get(msg.id);
    if (seq === undefined) {
      seq = room.events.length + 1;
      room.ids.set(msg.id, seq);
      const ev = {
        seq, id: msg.id, kind: msg.kind, body: msg.body,
        author: { participant_id: sid, role, name: role }, at: Date.now() / 1000,
      };
      room.events.push(ev);
      io.to(sid).emit("event", ev);
    }
    socket.emit("sent", { id: msg.id, seq });
  });
});

httpServer.listen(port, "127.0.0.1", () => console.log(`socket.io relay listening on ${port}`));
