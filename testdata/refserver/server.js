#!/usr/bin/env node
// Socket.IO reference server for the interop tests.
//
// Usage: node server.js [variant]
//
// Listens on 127.0.0.1 on a random port and prints exactly one line to
// stdout once listening: {"port":12345}. Nothing else is written to stdout.
// Diagnostics go to stderr when REFSERVER_DEBUG=1.
//
// The process exits when its stdin reaches end-of-file (so a server whose
// parent died goes away with it), on SIGTERM and on SIGINT.
//
// The behaviour of every namespace and event is documented in README.md.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const DEBUG = process.env.REFSERVER_DEBUG === "1";

function debug(...args) {
  if (DEBUG) {
    console.error("[refserver]", ...args);
  }
}

// Server options per variant. Anything not listed keeps the socket.io
// default (pingInterval 25000, pingTimeout 20000, maxHttpBufferSize 1e6,
// transports ["polling", "websocket"], no permessage-deflate, no recovery).
const VARIANTS = {
  default: {},
  fastping: { pingInterval: 300, pingTimeout: 200 },
  smallbuf: { maxHttpBufferSize: 2000 },
  deflate: { perMessageDeflate: { threshold: 0 } },
  recovery: {
    connectionStateRecovery: {
      maxDisconnectionDuration: 60000,
      skipMiddlewares: true,
    },
  },
  shortconnect: { connectTimeout: 1000 },
};

const variant = process.argv[2] || "default";
if (!Object.prototype.hasOwnProperty.call(VARIANTS, variant)) {
  console.error(
    `refserver: unknown variant ${JSON.stringify(variant)}; known: ${Object.keys(VARIANTS).join(", ")}`
  );
  process.exit(2);
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found\n");
});

const io = new Server(httpServer, {
  serveClient: false,
  ...VARIANTS[variant],
});

// ---- namespaces -----------------------------------------------------------

const OPEN_NAMESPACES = ["/", "/realtime", "/admin"];

for (const name of OPEN_NAMESPACES) {
  setup(io.of(name));
}

// /secure: token "good" or "good…" is accepted; "bad-data" is rejected with
// error data; anything else (including no token) is rejected without data.
const secure = io.of("/secure");
secure.use((socket, next) => {
  const token = authToken(socket);
  if (typeof token === "string" && token.startsWith("good")) {
    return next();
  }
  const err = new Error("Not authorized");
  if (token === "bad-data") {
    err.data = { code: 4001, reason: "token rejected" };
  }
  next(err);
});
setup(secure);

// /once: every token is accepted at most once over the server's lifetime.
const usedTokens = new Set();
const once = io.of("/once");
once.use((socket, next) => {
  const token = authToken(socket);
  if (token === undefined || token === null || token === "") {
    return next(new Error("no token"));
  }
  const key = typeof token === "string" ? token : JSON.stringify(token);
  if (usedTokens.has(key)) {
    const err = new Error("token reused");
    err.data = { token };
    return next(err);
  }
  usedTokens.add(key);
  next();
});
setup(once);

function authToken(socket) {
  const auth = socket.handshake.auth;
  if (auth && typeof auth === "object") {
    return auth.token;
  }
  return undefined;
}

// ---- per-socket behaviour -------------------------------------------------

// popAck removes a trailing acknowledgement callback from args and returns it
// (or null when the client did not ask for an ack).
function popAck(args) {
  if (args.length > 0 && typeof args[args.length - 1] === "function") {
    return args.pop();
  }
  return null;
}

function patternString(n) {
  const alphabet = "abcdefghijklmnopqrstuvwxyz";
  if (!Number.isInteger(n) || n < 0) {
    n = 0;
  }
  let chunk = "";
  for (let i = 0; i < alphabet.length * 64; i++) {
    chunk += alphabet[i % alphabet.length];
  }
  let out = chunk.repeat(Math.floor(n / chunk.length));
  out += chunk.slice(0, n % chunk.length);
  return out;
}

function patternBuffer(n) {
  if (!Number.isInteger(n) || n < 0) {
    n = 0;
  }
  const buf = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    buf[i] = i % 256;
  }
  return buf;
}

function deflateNegotiated(socket) {
  const transport = socket.conn && socket.conn.transport;
  if (!transport || transport.name !== "websocket" || !transport.socket) {
    return false;
  }
  const ws = transport.socket;
  if (typeof ws.extensions === "string") {
    return ws.extensions.split(",").includes("permessage-deflate");
  }
  return Boolean(ws._extensions && ws._extensions["permessage-deflate"]);
}

function setup(nsp) {
  nsp.on("connection", (socket) => {
    debug("connect", nsp.name, socket.id, "recovered:", socket.recovered);

    const headerValue = socket.handshake.headers["x-test"];
    socket.emit("welcome", {
      id: socket.id,
      nsp: nsp.name,
      auth: socket.handshake.auth,
      query: socket.handshake.query,
      header: headerValue === undefined ? null : headerValue,
      recovered: Boolean(socket.recovered),
    });

    const counted = [];

    socket.on("disconnect", (reason) => {
      debug("disconnect", nsp.name, socket.id, reason);
    });

    socket.on("echo", (...args) => {
      const cb = popAck(args);
      socket.emit("echo", ...args);
      if (cb) cb(...args);
    });

    socket.on("ack", (...args) => {
      const cb = popAck(args);
      if (cb) cb(...args);
    });

    socket.on("ack-delay", (...args) => {
      const cb = popAck(args);
      const ms = Number(args[0]) || 0;
      if (cb) setTimeout(() => cb("late"), ms);
    });

    socket.on("no-ack", () => {
      // Deliberately never acknowledged.
    });

    const requestAck = (timeoutMs, args) => {
      socket.timeout(timeoutMs).emit("need-ack", ...args, (err, ...replies) => {
        if (err) {
          socket.emit("got-ack-timeout");
        } else {
          socket.emit("got-ack", ...replies);
        }
      });
    };

    socket.on("request-ack", (...args) => {
      const cb = popAck(args);
      requestAck(5000, args);
      if (cb) cb();
    });

    socket.on("request-ack-timeout", (...args) => {
      const cb = popAck(args);
      const ms = Number(args.shift()) || 0;
      requestAck(ms, args);
      if (cb) cb();
    });

    socket.on("binary", (...args) => {
      const cb = popAck(args);
      socket.emit(
        "binary",
        {
          a: Buffer.from([1, 2, 3]),
          nested: { list: [Buffer.from([4, 5]), "x", { deep: Buffer.from([6]) }] },
        },
        Buffer.from([7, 8])
      );
      if (cb) cb();
    });

    socket.on("binary-ack", (...args) => {
      const cb = popAck(args);
      if (cb) cb({ bin: Buffer.from([9, 9, 9]) });
    });

    socket.on("binary-ack-nested", (...args) => {
      const cb = popAck(args);
      if (cb)
        cb(
          { a: Buffer.from([1, 2]), nested: { list: ["x", Buffer.from([3]), { deep: Buffer.from([4, 5]) }] } },
          Buffer.from([6]),
          "text"
        );
    });

    socket.on("flood", (...args) => {
      const cb = popAck(args);
      const n = Number(args[0]) || 0;
      const size = args.length > 1 && args[1] !== null ? Number(args[1]) : 10;
      const payload = "x".repeat(Number.isInteger(size) && size > 0 ? size : 0);
      for (let i = 0; i < n; i++) {
        socket.emit("flood", i, payload);
      }
      socket.emit("flood-done", n);
      if (cb) cb(n);
    });

    socket.on("big", (...args) => {
      const cb = popAck(args);
      const n = Number(args[0]) || 0;
      socket.emit("big", patternString(n));
      if (cb) cb(n);
    });

    socket.on("big-binary", (...args) => {
      const cb = popAck(args);
      const n = Number(args[0]) || 0;
      socket.emit("big-binary", patternBuffer(n));
      if (cb) cb(n);
    });

    socket.on("join", (...args) => {
      const cb = popAck(args);
      socket.join(String(args[0]));
      if (cb) cb(true);
    });

    socket.on("leave", (...args) => {
      const cb = popAck(args);
      socket.leave(String(args[0]));
      if (cb) cb(true);
    });

    socket.on("broadcast", (...args) => {
      const cb = popAck(args);
      const room = String(args.shift());
      io.of(nsp.name).to(room).emit("broadcast", ...args);
      if (cb) cb(true);
    });

    socket.on("disconnect-me", () => {
      socket.disconnect();
    });

    socket.on("disconnect-me-all", () => {
      socket.disconnect(true);
    });

    socket.on("drop-me", () => {
      socket.conn.close();
    });

    socket.on("drop-and-emit", (...args) => {
      popAck(args);
      const n = Number(args[0]) || 0;
      const room = socket.id;
      socket.conn.close();
      setTimeout(() => {
        for (let i = 0; i < n; i++) {
          io.of(nsp.name).to(room).emit("missed", i);
        }
      }, 100);
    });

    socket.on("counted", (...args) => {
      const cb = popAck(args);
      counted.push(args.length > 0 ? args[0] : null);
      if (cb) cb(counted.length);
    });

    socket.on("count", (...args) => {
      const cb = popAck(args);
      if (cb) cb(counted.length, counted.slice());
    });

    socket.on("stats", (...args) => {
      const cb = popAck(args);
      if (cb) {
        cb({ clients: io.engine.clientsCount, sockets: io.of(nsp.name).sockets.size });
      }
    });

    socket.on("handshake", (...args) => {
      const cb = popAck(args);
      if (cb) {
        cb({
          auth: socket.handshake.auth,
          query: socket.handshake.query,
          headers: socket.handshake.headers,
        });
      }
    });

    socket.on("compressed?", (...args) => {
      const cb = popAck(args);
      if (cb) cb(deflateNegotiated(socket));
    });

    socket.on("transport", (...args) => {
      const cb = popAck(args);
      if (cb) cb(socket.conn.transport.name);
    });
  });
}

// ---- lifecycle -------------------------------------------------------------

let stopping = false;

function shutdown(why) {
  if (stopping) return;
  stopping = true;
  debug("shutting down:", why);
  // Do not wait for lingering connections: the tests want the process gone.
  const timer = setTimeout(() => process.exit(0), 300);
  timer.unref();
  try {
    io.close(() => process.exit(0));
  } catch (err) {
    debug("close error:", err);
    process.exit(0);
  }
}

process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

process.stdin.on("end", () => shutdown("stdin closed"));
process.stdin.on("close", () => shutdown("stdin closed"));
process.stdin.on("error", () => shutdown("stdin error"));
process.stdin.on("data", () => {
  // Input is ignored; reading keeps the end-of-file detection working.
});
process.stdin.resume();

httpServer.on("error", (err) => {
  console.error("refserver: server error:", err);
  process.exit(1);
});

httpServer.listen(0, "127.0.0.1", () => {
  const { port } = httpServer.address();
  debug("variant", variant, "listening on port", port);
  process.stdout.write(JSON.stringify({ port }) + "\n");
});
