// Who may read the dashboard: on a loopback address anyone on this machine; on any other address only a request carrying the token.

import { randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_COOKIE = 'backfill_token';

/** The addresses that never leave this machine, where no token is asked for. */
export function isLoopbackHost(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost';
}

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

export interface AccessRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export type AccessVerdict =
  | { readonly ok: true; /** The token came in the URL: set the cookie so the page's own requests carry it. */ readonly setCookie: boolean }
  | { readonly ok: false; readonly status: 401 | 403; readonly reason: string };

/**
 * `token` undefined: loopback, no token; the Host header must still name a loopback address, so a
 * web page elsewhere cannot reach the dashboard through a DNS name it points at 127.0.0.1.
 */
export function checkAccess(request: AccessRequest, token: string | undefined): AccessVerdict {
  if (token === undefined) {
    const host = hostName(header(request, 'host') ?? '');
    return isLoopbackHost(host) ? { ok: true, setCookie: false } : { ok: false, status: 403, reason: `host "${host}" is not this machine` };
  }
  const fromUrl = new URL(request.url, 'http://x').searchParams.get('token') ?? undefined;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header(request, 'authorization') ?? '')?.[1];
  const cookie = cookieValue(header(request, 'cookie') ?? '', TOKEN_COOKIE);
  for (const given of [fromUrl, bearer, cookie]) {
    if (given !== undefined && same(given, token)) return { ok: true, setCookie: given === fromUrl };
  }
  return { ok: false, status: 401, reason: 'this dashboard needs its token: open the address printed when `backfill ui` started' };
}

export function tokenCookie(token: string): string {
  return `${TOKEN_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
}

function header(request: AccessRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `127.0.0.1:8787` → `127.0.0.1`, `[::1]:8787` → `::1`. */
function hostName(host: string): string {
  const bracketed = /^\[([^\]]+)\]/.exec(host);
  if (bracketed !== null) return bracketed[1] as string;
  return host.replace(/:\d+$/, '');
}

function cookieValue(cookies: string, name: string): string | undefined {
  for (const part of cookies.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
