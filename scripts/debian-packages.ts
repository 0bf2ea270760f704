// Checks that every Debian file the build and the tests use (listed in
// scripts/debian-uses.txt) belongs to a package that scripts/install.sh
// installs, directly or as a hard dependency (Depends, Pre-Depends). A
// machine that had a package from elsewhere, by hand or as a recommendation,
// hides a gap that a fresh machine installing with --no-install-recommends
// falls into. Run: node --import tsx scripts/debian-packages.ts
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const SCRIPTS_DIR = path.dirname(fileURLToPath(import.meta.url));

export interface Use {
  path: string;
  why: string;
}

/** The PACKAGES=(...) array of install.sh. */
export function installList(installSh: string): string[] {
  const match = /^PACKAGES=\(([^)]*)\)/m.exec(installSh);
  if (!match) throw new Error("install.sh has no PACKAGES=(...) list");
  return match[1]!.split(/\s+/).filter(Boolean);
}

/** Lines "path  why" of debian-uses.txt; '#' starts a comment. */
export function parseUses(text: string): Use[] {
  return text
    .split("\n")
    .map((line) => line.replace(/#.*/, "").trim())
    .filter(Boolean)
    .map((line) => {
      const [file, ...why] = line.split(/\s+/);
      return { path: file!, why: why.join(" ") };
    });
}

const bare = (name: string) => name.replace(/^<|>$/g, "").replace(/:(any|amd64|arm64|i386|all)$/, "");

/**
 * Every package apt reaches from `packages` through hard dependencies only:
 * the packages a `--no-install-recommends` install brings.
 */
export function hardClosure(packages: string[]): Set<string> {
  const out = execFileSync(
    "apt-cache",
    [
      "depends",
      "--recurse",
      "--no-recommends",
      "--no-suggests",
      "--no-conflicts",
      "--no-breaks",
      "--no-replaces",
      "--no-enhances",
      ...packages,
    ],
    { encoding: "utf8", maxBuffer: 1 << 26 },
  );
  const closure = new Set<string>();
  // Each visited package is printed once at the start of a line, its dependencies indented below.
  for (const line of out.split("\n")) if (line && !/^\s/.test(line)) closure.add(bare(line.trim()));
  return closure;
}

/** The package that owns a file (dpkg -S), also across the /usr merge. */
export function ownerOf(file: string): string | undefined {
  const candidates = new Set([file]);
  if (existsSync(file)) candidates.add(realpathSync(file));
  for (const f of [...candidates]) {
    if (f.startsWith("/usr/")) candidates.add(f.slice(4));
    else candidates.add(`/usr${f}`);
  }
  for (const candidate of candidates) {
    try {
      const out = execFileSync("dpkg", ["-S", candidate], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      const owner = out.split("\n")[0]!.split(":")[0]!;
      if (owner && !owner.includes(",")) return bare(owner);
      // "pkg-a, pkg-b: /path" (a shared directory): the first is as good as any.
      if (owner) return bare(owner.split(",")[0]!.trim());
    } catch {
      // not owned under this name; try the next one
    }
  }
  return undefined;
}

/** What is wrong with `uses` against the closure of the install list; empty when all is well. */
export function checkUses(uses: Use[], closure: Set<string>, owner = ownerOf): string[] {
  const problems: string[] = [];
  for (const use of uses) {
    const pkg = owner(use.path);
    if (!pkg) problems.push(`${use.path} (${use.why}): no installed Debian package owns it`);
    else if (!closure.has(pkg))
      problems.push(
        `${use.path} (${use.why}): comes from "${pkg}", which install.sh neither lists nor gets through a hard dependency`,
      );
  }
  return problems;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  const packages = installList(readFileSync(path.join(SCRIPTS_DIR, "install.sh"), "utf8"));
  const uses = parseUses(readFileSync(path.join(SCRIPTS_DIR, "debian-uses.txt"), "utf8"));
  const problems = checkUses(uses, hardClosure(packages));
  for (const problem of problems) console.error(problem);
  console.log(
    `${uses.length} Debian files checked against ${packages.length} listed packages: ${problems.length} problems`,
  );
  process.exit(problems.length ? 1 : 0);
}
