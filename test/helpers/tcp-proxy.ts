import * as net from "node:net";

/** A loopback TCP proxy to a real service that a test can cut (and heal), to simulate the service going down. */
export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1") {
  const sockets = new Set<net.Socket>();
  let cut = false;
  let stalled = false;
  const stalledSockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    if (cut) return client.destroy();
    if (stalled) {
      // Accepted, and never answered: as a process stopped with SIGSTOP looks from outside. A
      // resumed process would answer them; here they are reset on heal().
      sockets.add(client);
      stalledSockets.add(client);
      client.on("close", () => (sockets.delete(client), stalledSockets.delete(client)));
      client.on("error", () => client.destroy());
      return;
    }
    connections++;
    const upstream = net.connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** Client connections accepted so far. */
    get connections() {
      return connections;
    },
    /** Drops every connection and refuses new ones. */
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    /** Accepts new connections again. */
    heal() {
      cut = false;
      stalled = false;
      for (const s of stalledSockets) s.destroy();
    },
    /** Drops every connection; new ones are accepted and never answered, until heal(). */
    stall() {
      stalled = true;
      for (const s of sockets) s.destroy();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
