// A database URL given to `backfill init`, turned into the `connection:` a job file holds: the
// password replaced by a `${VAR}` reference, so a written job never carries a secret.

import { ConnectorError, redactSecrets } from '../core/errors.js';

export interface ConnectionBlock {
  /** The `connection:` value: the URL as given when it holds no password, else fields or a URL with `${VAR}`. */
  readonly connection: string | Readonly<Record<string, string | number>>;
  readonly host: string;
  readonly port: number | undefined;
  readonly database: string;
}

/** `secret` records the password and returns its `${VAR}` reference. */
export function connectionBlock(text: string, secret: (value: string) => string): ConnectionBlock {
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw new ConnectorError(`not a database URL: ${redactSecrets(text)}`, { cause });
  }
  const host = decodeURIComponent(url.hostname) || '127.0.0.1';
  const port = url.port === '' ? undefined : Number(url.port);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database === '') throw new ConnectorError(`the URL names no database (…/<database> at its end): ${redactSecrets(text)}`);
  if (url.password === '') return { connection: text, host, port, database };
  const reference = secret(decodeURIComponent(url.password));
  // Fields keep the password out of URL syntax, so its value needs no percent-encoding; URL
  // parameters (sslmode, …) have no field, so then the URL stays, with the reference inside.
  if ([...url.searchParams.keys()].length === 0) {
    const user = decodeURIComponent(url.username);
    return {
      connection: { host, ...(port === undefined ? {} : { port }), ...(user === '' ? {} : { user }), password: reference, database },
      host,
      port,
      database,
    };
  }
  url.password = 'PASSWORD';
  return { connection: url.toString().replace(':PASSWORD@', `:${reference}@`), host, port, database };
}
