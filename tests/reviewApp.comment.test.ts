/** The one review-app PR comment: found again by its marker and edited, else posted (loopback forge API). */
import * as http from "node:http";
import * as crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chooseCommentAction, prCommentCli, upsertComment } from "../commands/pr-comment/main";
import { SUMMARY_MARKER } from "../commands/review-app/main";

const TOKEN = `ghs_${crypto.randomBytes(12).toString("hex")}`;
let server: http.Server;
let base = "";
let comments: Array<{ id: number; body: string }> = [];
const seen: Array<{ method: string; url: string; auth?: string; body: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
      res.setHeader("content-type", "application/json");
      if (req.method === "GET") {
        res.end(JSON.stringify(comments));
      } else if (req.method === "POST") {
        comments.push({ id: 900 + comments.length, body: JSON.parse(body).body });
        res.statusCode = 201;
        res.end("{}");
      } else {
        const id = Number(req.url!.split("/").pop());
        comments = comments.map((c) => (c.id === id ? { id, body: JSON.parse(body).body } : c));
        res.end("{}");
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/v1`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("review-app PR comment", () => {
  it("chooses the marked comment, else a new one", () => {
    expect(
      chooseCommentAction(
        [
          { id: 1, body: "LGTM" },
          { id: 7, body: `${SUMMARY_MARKER}\nold` },
        ],
        SUMMARY_MARKER,
      ),
    ).toEqual({ kind: "update", id: 7 });
    expect(chooseCommentAction([{ id: 1, body: `quoting ${SUMMARY_MARKER}` }], SUMMARY_MARKER)).toEqual({
      kind: "create",
    });
    expect(chooseCommentAction({ message: "Not Found" }, SUMMARY_MARKER)).toEqual({ kind: "create" });
  });

  it("posts once, then edits that same comment on the next push; the token only in the header", async () => {
    comments = [{ id: 5, body: "a reviewer's comment" }];
    const env = { GITHUB_API_URL: base, GITHUB_REPOSITORY: "medlab/deploy", PR_NUMBER: "42", GITHUB_TOKEN: TOKEN };
    expect(await upsertComment(env, `${SUMMARY_MARKER}\nfirst push`)).toBe("posted the review-app comment");
    expect(await upsertComment(env, `${SUMMARY_MARKER}\nsecond push`)).toBe("updated review-app comment 901");
    expect(comments).toEqual([
      { id: 5, body: "a reviewer's comment" },
      { id: 901, body: `${SUMMARY_MARKER}\nsecond push` },
    ]);
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      "GET /api/v1/repos/medlab/deploy/issues/42/comments?per_page=100",
      "POST /api/v1/repos/medlab/deploy/issues/42/comments",
      "GET /api/v1/repos/medlab/deploy/issues/42/comments?per_page=100",
      "PATCH /api/v1/repos/medlab/deploy/issues/comments/901",
    ]);
    expect(seen.every((r) => r.auth === `token ${TOKEN}` && !r.url.includes(TOKEN) && !r.body.includes(TOKEN))).toBe(
      true,
    );
  });

  it("names what is missing instead of calling anything", async () => {
    await expect(upsertComment({ GITHUB_API_URL: base, PR_NUMBER: "1" }, "x")).rejects.toThrow(
      "cannot comment: GITHUB_REPOSITORY, GITHUB_TOKEN not set",
    );
  });
});

describe("npm run pr-comment (command line)", () => {
  const run = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await prCommentCli(argv, { stdout: (l) => out.push(l), stderr: (l) => err.push(l) }, { env });
    return { code, out, err };
  };

  it(
    "a missing or absent file is a usage mistake (exit" + " 2, usage on stderr); a failed call says so (exit 1)",
    async () => {
      expect(await run([])).toEqual({
        code: 2,
        out: [],
        err: ["pr-comment: missing <comment.md>", "usage: npm run pr-comment -- <comment.md>"],
      });
      expect(await run(["no-such-comment.md"])).toEqual({
        code: 2,
        out: [],
        err: ["pr-comment: no file no-such-comment.md", "usage: npm run pr-comment -- <comment.md>"],
      });
      expect(await run([__filename])).toEqual({
        code: 1,
        out: [],
        err: ["pr-comment failed: cannot comment: GITHUB_API_URL, GITHUB_REPOSITORY, PR_NUMBER, GITHUB_TOKEN not set"],
      });
    },
  );
});
