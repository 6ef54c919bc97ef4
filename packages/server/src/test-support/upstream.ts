/**
 * A real upstream for broker tests: a node:http server on loopback that records every request
 * it receives (method, raw URL, headers, body) and misbehaves on purpose on a few paths:
 * `/hang` never answers, `/reset` drops the connection, `/garbage` answers bytes that are not
 * HTTP, `/cut` sends half a body then resets, `/big?mb=N` streams N MiB, `/redirect` answers 302
 * to its own URL with a trailing slash (query kept, as many frameworks do).
 *
 * @example
 * const up = await startUpstream();
 * // … calls through /proxy …
 * expect(up.requests[0]!.headers.authorization).toBe("Bearer ghp_…");
 * await up.close();
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { Socket } from "node:net";

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export interface Upstream {
  url: string;
  port: number;
  requests: SeenRequest[];
  close(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      requests.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      const path = (req.url ?? "").split("?")[0] ?? "";
      if (path.endsWith("/hang")) return;
      if (path.endsWith("/reset")) return req.socket.destroy();
      if (path.endsWith("/garbage")) {
        req.socket.end("this is not HTTP at all\r\n\r\n");
        return;
      }
      if (path.endsWith("/cut")) {
        res.writeHead(200, { "content-length": "1000" });
        res.write("x".repeat(100));
        setTimeout(() => req.socket.destroy(), 20);
        return;
      }
      if (path.endsWith("/redirect")) {
        const url = req.url ?? "/";
        const q = url.indexOf("?");
        const to = q < 0 ? `${url}/` : `${url.slice(0, q)}/${url.slice(q)}`;
        res.writeHead(302, { location: `http://${req.headers.host}${to}`, "content-length": "0" });
        return res.end();
      }
      if (path.endsWith("/big")) {
        const mb = Number(new URL(req.url ?? "/", "http://x").searchParams.get("mb") ?? "1");
        res.writeHead(200, {
          "content-type": "application/octet-stream",
          "content-length": String(mb * 1048576),
        });
        const chunk = Buffer.alloc(65536, 97);
        let left = mb * 16;
        const pump = () => {
          while (left > 0) {
            left--;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          res.end();
        };
        return pump();
      }
      res.writeHead(200, {
        "content-type": "application/json",
        "set-cookie": "upstream_session=1",
        "x-upstream": "yes",
        connection: "keep-alive, x-hop",
        "x-hop": "should-not-pass",
      });
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          body_length: body.length,
        }),
      );
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
