// The Debian dependency closure: every file the build and the tests use comes
// from install.sh's list or a hard dependency of it, never from a
// recommendation or a package installed by hand.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkUses, hardClosure, installList, ownerOf, parseUses, SCRIPTS_DIR } from "../debian-packages.ts";

const packages = installList(readFileSync(path.join(SCRIPTS_DIR, "install.sh"), "utf8"));
const uses = parseUses(readFileSync(path.join(SCRIPTS_DIR, "debian-uses.txt"), "utf8"));

describe("Debian packages", () => {
  it("every file the build and the tests use comes from install.sh's list or a hard dependency", () => {
    const closure = hardClosure(packages);
    expect(checkUses(uses, closure)).toEqual([]);
  });

  it("catches a file whose package install.sh does not bring", () => {
    // Only protoc's own package: the well-known protos (libprotobuf-dev) are a recommendation of it.
    const closure = hardClosure(["protobuf-compiler"]);
    const problems = checkUses([{ path: "/usr/include/google/protobuf/struct.proto", why: "test" }], closure);
    expect(problems).toEqual([expect.stringMatching(/libprotobuf-dev/)]);
  });

  it("finds owners across the /usr merge and says when none exists", () => {
    expect(ownerOf("/bin/ip")).toBe("iproute2");
    expect(ownerOf("/usr/bin/ip")).toBe("iproute2");
    expect(checkUses([{ path: "/no/such/file", why: "test" }], new Set())).toEqual([
      expect.stringMatching(/no installed Debian package owns it/),
    ]);
  });

  it("reads install.sh's list", () => {
    expect(packages).toEqual(expect.arrayContaining(["chromium", "protobuf-compiler", "libprotobuf-dev"]));
  });
});
