#!/usr/bin/env node
// socket.io-client side of the comparison benchmark.
//
// Usage: node --expose-gc client.js '<task JSON>'
//
// The task is the one the Go children get (see task.go): client, kind
// (receive, emit, ack, idle), url, n, size, workers, warmup, conns and
// timeout. One JSON line with the result goes to stdout. The process
// exits when the task ends, when its timeout passes, or when stdin
// reaches end-of-file (the parent went away).
"use strict";

const fs = require("fs");
const { io } = require("socket.io-client");

const task = JSON.parse(process.argv[2] || "{}");

function finish(result, code) {
  if (redials > 0) result.redials = redials;
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(code));
}

function fail(err) {
  finish({ error: String((err && err.message) || err) }, 1);
}

const timer = setTimeout(() => fail(new Error("task timed out")), (task.timeout || 60) * 1000);
timer.unref();

process.stdin.on("end", () => process.exit(2));
process.stdin.on("error", () => process.exit(2));
process.stdin.on("data", () => {});
process.stdin.resume();

function dial(url) {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ["websocket"],
      forceNew: true,
      multiplex: false,
      reconnection: false,
      timeout: 5000, // loopback: a handshake takes milliseconds
    });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

// A dial that fails is made again, at most 3 times, as the Go clients do;
// the result reports how many were.
let redials = 0;

async function dialRetrying(url) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await dial(url);
    } catch (err) {
      if (attempt >= 3) throw err;
      redials++;
    }
  }
}

function now() {
  return process.hrtime.bigint();
}

function seconds(start) {
  return Number(now() - start) / 1e9;
}

function payloadString(n) {
  let s = "";
  for (let i = 0; i < n; i++) {
    s += String.fromCharCode(97 + (i % 26));
  }
  return s;
}

function vmRSS() {
  const status = fs.readFileSync("/proc/self/status", "utf8");
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error("no VmRSS in /proc/self/status");
  return Number(m[1]) * 1024;
}

function collect() {
  if (typeof global.gc === "function") {
    global.gc();
    global.gc();
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

async function receive() {
  const socket = await dialRetrying(task.url);
  let count = 0;
  const done = new Promise((resolve) => socket.once("done", resolve));
  socket.on("ev", () => {
    count++;
  });
  const start = now();
  socket.emit("start");
  await done;
  const secs = seconds(start);
  socket.close();
  if (count !== task.n) throw new Error(`event count mismatch: got ${count}, want ${task.n}`);
  return { events: count, seconds: secs };
}

async function emit() {
  const socket = await dialRetrying(task.url);
  const payload = payloadString(task.size);
  const start = now();
  for (let i = 0; i < task.n; i++) {
    socket.emit("ev", payload);
    if (i % 1000 === 999) await tick(); // let the socket drain
  }
  const reply = await socket.timeout(task.timeout * 1000).emitWithAck("done");
  const secs = seconds(start);
  socket.close();
  if (reply !== task.n) throw new Error(`event count mismatch: server got ${reply}, want ${task.n}`);
  return { events: task.n, seconds: secs };
}

async function ack() {
  const socket = await dialRetrying(task.url);
  const payload = payloadString(task.size);
  const lat = [];
  for (let i = 0; i < task.warmup + task.n; i++) {
    const start = now();
    await socket.timeout(10000).emitWithAck("ack", payload);
    if (i >= task.warmup) lat.push(Number(now() - start) / 1e3);
  }
  socket.close();
  return { lat_us: lat };
}

async function idle() {
  collect();
  const rss0 = vmRSS();
  const sockets = [];
  const inFlight = 32;
  let next = 0;
  async function worker() {
    while (next < task.conns) {
      next++;
      sockets.push(await dialRetrying(task.url));
    }
  }
  const workers = [];
  for (let i = 0; i < inFlight; i++) workers.push(worker());
  await Promise.all(workers);
  await sleep(1000);
  collect();
  const rss1 = vmRSS();
  return { conns: sockets.length, rss_delta: rss1 - rss0 };
}

const kinds = { receive, emit, ack, idle };

if (!kinds[task.kind]) {
  fail(new Error(`unknown task kind ${JSON.stringify(task.kind)}`));
} else {
  kinds[task.kind]().then((r) => finish(r, 0), fail);
}
