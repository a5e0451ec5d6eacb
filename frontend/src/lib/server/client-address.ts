/**
 * The client address this server vouches for: the one Better Auth's rate limiter keys on and the
 * one the task proxy sends FastAPI as `X-Forwarded-For` (so that the API's per-address limit
 * counts browsers, not this server).
 *
 * Why a hook of our own: under `next start`, a route handler cannot see the TCP peer. Next.js
 * 16.4.6 builds a route's Request from the header object alone (no `ip`:
 * next/dist/server/web/spec-extension/adapters/next-request.js, fromNodeNextRequest), and its
 * only use of the peer is `req.headers['x-forwarded-for'] ??= socket.remoteAddress`
 * (next/dist/server/base-server.js:604): it fills the header in only when the client sent none,
 * so a client's own `X-Forwarded-For` reaches the app unchanged and the peer is lost. Node
 * publishes every parsed request on the diagnostics channel `http.server.request.start`, with its
 * socket, before the server's `request` event (Next's listener) runs; `next start` serves the app
 * in that same process. The hook below reads the peer there, walks X-Forwarded-For from the right
 * past the hops in TRUSTED_PROXIES, and writes the result under a header name that is random per
 * process, replacing anything of that name.
 *
 * A client cannot send that header: it cannot know its name. Next.js listens before it runs
 * `register()` (instrumentation.ts), and requests that arrive in between were parsed without the
 * hook; they have no such header, so they have no vouched address: the proxy then sends FastAPI
 * none (FastAPI counts them as this server), and Better Auth counts them in its shared
 * `no-trusted-ip` bucket. Nothing a client sent is ever believed without the hook.
 */

import { randomBytes } from "node:crypto";
import { subscribe } from "node:diagnostics_channel";
import type { IncomingMessage } from "node:http";
import { BlockList, isIP } from "node:net";

import { trustedProxies } from "@/lib/server/config";

const REQUEST_START = "http.server.request.start";
const STATE_KEY = Symbol.for("tandem.frontend.clientAddress");
const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;
const PREFIX = /^\d{1,3}$/;

interface State {
  /** Where the hook writes the address: `x-tandem-client-address-<random>`. */
  header: string;
  installed: boolean;
}

/** One per process, shared by instrumentation.ts and every route bundle (like the token cache). */
function state(): State {
  const holder = globalThis as typeof globalThis & { [STATE_KEY]?: State };
  holder[STATE_KEY] ??= { header: `x-tandem-client-address-${randomBytes(12).toString("hex")}`, installed: false };
  return holder[STATE_KEY];
}

/** The request header that holds the vouched address (Better Auth's `ipAddressHeaders`). */
export function clientAddressHeader(): string {
  return state().header;
}

/** An IP address as compared and reported: IPv4-mapped IPv6 (`::ffff:192.0.2.1`) as IPv4; null if not an address. */
function normalized(value: string): string | null {
  const address = IPV4_MAPPED.exec(value)?.[1] ?? value;
  return isIP(address) === 0 ? null : address;
}

function family(address: string): "ipv4" | "ipv6" {
  return isIP(address) === 4 ? "ipv4" : "ipv6";
}

/** TRUSTED_PROXIES as a set of networks; throws on an entry that is not an address or a network. */
export function trustedHops(entries: readonly string[] = trustedProxies()): BlockList {
  const hops = new BlockList();
  for (const entry of entries) {
    const [address = "", prefix, extra] = entry.split("/");
    const ip = normalized(address);
    const bits = prefix === undefined ? undefined : Number(prefix);
    const maxBits = ip !== null && family(ip) === "ipv4" ? 32 : 128;
    const prefixOk = prefix === undefined || (PREFIX.test(prefix) && bits !== undefined && bits <= maxBits);
    if (ip === null || extra !== undefined || !prefixOk) {
      throw new Error(`TRUSTED_PROXIES: "${entry}" is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24, ::1)`);
    }
    if (bits === undefined) hops.addAddress(ip, family(ip));
    else hops.addSubnet(ip, bits, family(ip));
  }
  return hops;
}

/**
 * The address the chain vouches for. The peer is the hop this server saw; each trusted hop
 * appended the address it saw to X-Forwarded-For. Walking from the right, the first address not
 * in `trusted` is the client; everything to its left was written by the client itself. When an
 * entry is not an address, the walk stops at the hop to its right; when every hop is trusted,
 * the leftmost one is the client. Null only without a peer address (a socket already closed).
 */
export function vouchedAddress(forwardedFor: string | undefined, peer: string | undefined, trusted: BlockList): string | null {
  let nearest = peer === undefined ? null : normalized(peer);
  if (nearest === null || !trusted.check(nearest, family(nearest))) return nearest;
  const claimed = (forwardedFor ?? "").split(",");
  for (let index = claimed.length - 1; index >= 0; index--) {
    const entry = claimed[index]?.trim() ?? "";
    if (entry === "") continue;
    const address = normalized(entry);
    if (address === null) return nearest;
    if (!trusted.check(address, family(address))) return address;
    nearest = address;
  }
  return nearest;
}

function isRequestStart(message: unknown): message is { request: IncomingMessage; socket: { remoteAddress?: string } } {
  return typeof message === "object" && message !== null && "request" in message && "socket" in message;
}

/** Subscribes the hook, once per process (instrumentation.ts). Throws on a malformed TRUSTED_PROXIES. */
export function installClientAddressHook(): void {
  const current = state();
  if (current.installed) return;
  const trusted = trustedHops();
  const { header } = current;
  subscribe(REQUEST_START, (message) => {
    if (!isRequestStart(message)) return;
    const { request, socket } = message;
    // Node joins repeated X-Forwarded-For headers with ", ": the whole chain, in order.
    const forwarded = request.headers["x-forwarded-for"];
    const address = vouchedAddress(typeof forwarded === "string" ? forwarded : undefined, socket.remoteAddress, trusted);
    if (address === null) delete request.headers[header];
    else request.headers[header] = address;
  });
  current.installed = true;
}

/** The vouched client address of a request, or null when the hook did not see it. */
export function clientAddress(headers: Headers): string | null {
  const value = headers.get(state().header);
  return value !== null && normalized(value) === value ? value : null;
}
