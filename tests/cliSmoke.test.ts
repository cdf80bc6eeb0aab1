/** `npm run smoke` as an operator runs it against a mistyped host or a stopped app: a hint, exit 1. */
import { describe, expect, it } from "vitest";
import * as net from "node:net";
import { PROJECT, runCommand } from "./cliProject";

/** A loopback port with nothing listening (taken, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe("npm run smoke: connection errors come with a hint", () => {
  it("a host that does not resolve", async () => {
    const r = await runCommand(PROJECT, ["npm", "run", "-s", "smoke", "--", "my.medlab.hots"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^hint: my\.medlab\.hots does not resolve \((ENOTFOUND|EAI_AGAIN)\): check the host name/m,
    );
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("smoke: 0 passed, 5 failed against https://my.medlab.hots");
  });

  it("nothing listening", async () => {
    const port = await closedPort();
    const r = await runCommand(PROJECT, ["npm", "run", "-s", "smoke", "--", `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `hint: nothing listens at http://127.0.0.1:${port} (ECONNREFUSED):` +
        ` is the app running (Cloudron dashboard), is the port right?`,
    );
  });
});
