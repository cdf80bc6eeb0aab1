/** One loopback rule: the config's server check, the Cloudron client and the registry scheme agree on it. */
import { describe, expect, it } from "vitest";
import { isLoopbackHost } from "../lib/loopback";
import { valueRule } from "../config/rules";
import { apiBaseUrl } from "../cloudron/client";
import { registryScheme } from "../registry/ociRegistry";

const HOSTS: Array<[string, boolean]> = [
  ["127.0.0.1", true],
  ["127.1.2.3", true],
  ["localhost", true],
  ["LOCALHOST", true],
  ["[::1]", true],
  ["128.0.0.1", false],
  ["localhost.example", false],
  ["10.0.0.1", false],
  ["my.medlab.host", false],
];

describe("the loopback rule", () => {
  it.each(HOSTS)("%s is loopback: %s, in every place that allows plain http", (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
    const url = `http://${host}:8080`;
    expect(valueRule("cloudronServer", url).problems.length === 0).toBe(loopback);
    if (loopback) expect(apiBaseUrl(url)).toBe(`${url.toLowerCase()}/api/v1`);
    else expect(() => apiBaseUrl(url)).toThrow(/plain http is allowed only for a loopback stand-in/);
    expect(registryScheme(`${host}:5000`)).toBe(loopback ? "http" : "https");
  });

  it("a loopback server URL may not carry a path, query or user", () => {
    for (const url of ["http://127.0.0.1:8080/api", "http://127.0.0.1:8080/?a=1", "http://u@127.0.0.1:8080"])
      expect(valueRule("cloudronServer", url).problems).not.toEqual([]);
  });
});
