// Keeps the phone's screen on while the customer talks: a locked screen makes
// mobile browsers mute or end the microphone. Browsers drop a screen wake lock
// whenever the page is hidden, so it is asked for again each time it shows.

export class ScreenWakeLock {
  #wanted = false;
  #sentinel: WakeLockSentinel | undefined;
  #requesting = false;

  /** Keeps the screen on until release(); quietly does nothing where the browser cannot. */
  hold(): void {
    if (this.#wanted) return;
    this.#wanted = true;
    document.addEventListener("visibilitychange", this.#onVisibility);
    void this.#request();
  }

  release(): void {
    if (!this.#wanted) return;
    this.#wanted = false;
    document.removeEventListener("visibilitychange", this.#onVisibility);
    const sentinel = this.#sentinel;
    this.#sentinel = undefined;
    sentinel?.release().catch(() => {}); // released by the browser already
  }

  readonly #onVisibility = () => {
    if (document.visibilityState === "visible") void this.#request();
  };

  async #request(): Promise<void> {
    // Older browsers have no Wake Lock API (it needs a secure context too).
    if (!("wakeLock" in navigator) || this.#requesting) return;
    if (this.#sentinel && !this.#sentinel.released) return;
    this.#requesting = true;
    try {
      const sentinel = await navigator.wakeLock.request("screen");
      // Let go while the request was out: hand it straight back.
      if (this.#wanted) this.#sentinel = sentinel;
      else sentinel.release().catch(() => {});
    } catch (error) {
      // Refused (battery saver, a hidden page, a permissions policy): the conversation goes on without it.
      console.warn("screen wake lock refused", error);
    } finally {
      this.#requesting = false;
    }
  }
}
