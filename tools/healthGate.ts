/**
 * Entry of the health gate command (`node build/tools/healthGate.js <baseUrl> --timeout-seconds N …`);
 * the gate is steps/health/cli.ts. Cancelled by SIGINT/SIGTERM.
 */
import { runAsMain } from "../lib/cli";
import { main } from "../steps/health/cli";

if (require.main === module) runAsMain(main, { cancellable: true });
