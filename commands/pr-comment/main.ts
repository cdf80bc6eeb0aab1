/**
 * Posts or updates the ONE review-app comment of a pull request: `npm run pr-comment -- <file.md>`.
 * The comment is found again by its first line (the marker the review-app driver writes), so
 * every push edits it instead of adding another.
 *
 * GitHub and Gitea serve the same paths for this (`/repos/{owner}/{repo}/issues/{n}/comments`,
 * `/repos/{owner}/{repo}/issues/comments/{id}`); the workflows pass the API base of the forge
 * they run on. Reads GITHUB_API_URL, GITHUB_REPOSITORY, PR_NUMBER and GITHUB_TOKEN from the
 * environment; the token goes only into the Authorization header and is never printed.
 */
import * as fs from "node:fs";
import { isRecord, parseJson, requestText } from "../../lib/http";
import { defineCli, runAsMain, UsageError } from "../../lib/cli";

/** What to send: edit the comment with this id, or post a new one. */
export type CommentAction = { kind: "update"; id: number } | { kind: "create" };

/** The marked comment among a PR's comments (the first one, if several), else create. */
export function chooseCommentAction(comments: unknown, marker: string): CommentAction {
  const list = Array.isArray(comments) ? comments : [];
  const mine = list.find(
    (c) => isRecord(c) && typeof c.body === "string" && c.body.startsWith(marker) && typeof c.id === "number",
  );
  return mine && isRecord(mine) ? { kind: "update", id: mine.id as number } : { kind: "create" };
}

/** Posts or edits the comment; returns the line to log. */
export async function upsertComment(env: NodeJS.ProcessEnv, body: string): Promise<string> {
  const missing = ["GITHUB_API_URL", "GITHUB_REPOSITORY", "PR_NUMBER", "GITHUB_TOKEN"].filter((k) => !env[k]);
  if (missing.length > 0) throw new Error(`cannot comment: ${missing.join(", ")} not set`);
  const marker = body.split("\n")[0];
  const base = `${env.GITHUB_API_URL!.replace(/\/+$/, "")}/repos/${env.GITHUB_REPOSITORY}/issues`;
  const headers = {
    Authorization: `token ${env.GITHUB_TOKEN}`,
    Accept: "application/json",
    "Content-Type": "application/json",
  };
  const list = await requestText({ url: `${base}/${env.PR_NUMBER}/comments?per_page=100`, headers, timeoutMs: 30_000 });
  if (list.status !== 200) throw new Error(`listing the PR's comments answered ${list.status}`);
  const action = chooseCommentAction(parseJson(list.body), marker);
  const sent =
    action.kind === "update"
      ? await requestText({
          url: `${base}/comments/${action.id}`,
          method: "PATCH",
          body: JSON.stringify({ body }),
          headers,
          timeoutMs: 30_000,
        })
      : await requestText({
          url: `${base}/${env.PR_NUMBER}/comments`,
          method: "POST",
          body: JSON.stringify({ body }),
          headers,
          timeoutMs: 30_000,
        });
  if (sent.status < 200 || sent.status > 299)
    throw new Error(`${action.kind === "update" ? "editing" : "posting"} the comment answered ${sent.status}`);
  return action.kind === "update" ? `updated review-app comment ${action.id}` : "posted the review-app comment";
}

const USAGE = "usage: npm run pr-comment -- <comment.md>";

/** The pr-comment command: one line on stdout saying whether it posted or edited the comment. */
export const prCommentCli = defineCli({
  name: "pr-comment",
  usage: USAGE,
  spec: { positional: ["comment.md"] },
  parse: (a) => {
    const file = a.positional["comment.md"]!;
    if (!fs.existsSync(file)) throw new UsageError(`no file ${file}`);
    return file;
  },
  run: async (file, { io, env }) => {
    try {
      io.stdout(await upsertComment(env, fs.readFileSync(file, "utf8")));
      return 0;
    } catch (err) {
      // The workflow logs have always said "failed" here.
      io.stderr(`pr-comment failed: ${(err as Error).message}`);
      return 1;
    }
  },
});

if (require.main === module) runAsMain(prCommentCli);
