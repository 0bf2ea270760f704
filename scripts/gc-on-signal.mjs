// A measurement aid for scripts/soak.sh, not part of Parley: preloaded into a
// node started with --expose-gc, it runs a full garbage collection on
// SIGUSR2, so that memory read right after counts live objects only.
process.on("SIGUSR2", () => globalThis.gc?.());
