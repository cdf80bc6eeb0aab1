/**
 * Test helper: loopback fake apps that are stopped after every test of the file that imports this
 * (the `afterEach` registers in that file's scope).
 */
import { afterEach } from "vitest";
import { startFakeApp, type FakeApp, type FakeHandler } from "../engine/fakeApp";

const running: FakeApp[] = [];

/** Starts a fake app answering with `handler`; it is stopped after the current test. */
export async function serve(handler: FakeHandler): Promise<FakeApp> {
  const app = await startFakeApp(handler);
  running.push(app);
  return app;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.stop()));
});
