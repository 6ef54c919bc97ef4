import { describe, expect, it } from "vitest";
import { resolveStoreUrl } from "./open.js";

describe("resolveStoreUrl", () => {
  it.each([
    [{ url: "postgres://u@h/db" }, { kind: "postgres", location: "postgres://u@h/db" }],
    [
      { url: "postgresql://u@h:5433/db?sslmode=require" },
      { kind: "postgres", location: "postgresql://u@h:5433/db?sslmode=require" },
    ],
    [{ url: "sqlite:./data/x.db" }, { kind: "sqlite", location: "./data/x.db" }],
    [{ url: "sqlite:///var/lib/deputy.db" }, { kind: "sqlite", location: "/var/lib/deputy.db" }],
    [{ url: "sqlite::memory:" }, { kind: "sqlite", location: ":memory:" }],
    [{ url: "/tmp/deputy.db" }, { kind: "sqlite", location: "/tmp/deputy.db" }],
    [{ dataDir: "/srv/deputy" }, { kind: "sqlite", location: "/srv/deputy/deputy.db" }],
    [{}, { kind: "sqlite", location: ".deputy/deputy.db" }],
  ])("%j → %j", (options, expected) => {
    expect(resolveStoreUrl(options)).toEqual(expected);
  });
});
