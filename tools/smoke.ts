/**
 * Entry of the smoke command (`node build/tools/smoke.js <host or URL> [--email …]`, `npm run smoke`);
 * the checks and their command are in steps/smoke/.
 */
import { runAsMain } from "../lib/cli";
import { main } from "../steps/smoke/cli";

if (require.main === module) runAsMain(main);
