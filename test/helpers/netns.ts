// Other "hosts" for fleet tests: network namespaces, each joined to this one by a veth pair on its own subnet, with links that can be cut and restored.

import { execFileSync } from 'node:child_process';

export interface Host {
  /** The namespace's name (`ip netns exec <name> …`). */
  readonly ns: string;
  /** This machine's end of the link: services listen here, the host reaches them here. */
  readonly gateway: string;
  /** The host's own address. */
  readonly address: string;
  /** Bring this machine's end of the link down (packets dropped, connections left hanging) or up again. */
  link(up: boolean): void;
}

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** `count` namespaces on 10.231.<i>.0/24 (this machine .1, the host .2); `tag` keeps names unique to the test. */
export function createHosts(tag: string, count: number): { hosts: Host[]; remove(): void } {
  const hosts: Host[] = [];
  const remove = (): void => {
    for (const h of hosts) {
      try {
        ip('netns', 'delete', h.ns);
      } catch {
        // already gone
      }
    }
  };
  try {
    for (let i = 1; i <= count; i += 1) {
      const ns = `${tag}h${i}`;
      const outer = `${tag}o${i}`;
      const inner = `${tag}i${i}`;
      ip('netns', 'add', ns);
      const host: Host = {
        ns, gateway: `10.231.${i}.1`, address: `10.231.${i}.2`,
        link: (up) => ip('link', 'set', outer, up ? 'up' : 'down'),
      };
      hosts.push(host);
      ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
      ip('link', 'set', inner, 'netns', ns);
      ip('addr', 'add', `${host.gateway}/24`, 'dev', outer);
      ip('link', 'set', outer, 'up');
      ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${host.address}/24`, 'dev', inner);
      ip('netns', 'exec', ns, 'ip', 'link', 'set', inner, 'up');
      ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    }
  } catch (err) {
    remove();
    throw err;
  }
  // Deleting a namespace deletes its end of each veth pair, and with it this machine's end.
  return { hosts, remove };
}
