/**
 * The minimum of a stream of values over a sliding window, in constant work
 * per value and no allocation after construction (the voice detector runs it
 * per 20 ms frame of every stream). The window is the current block and the
 * `blocks` whole blocks before it, each `blockSize` values long: it spans
 * between blocks × blockSize + 1 and (blocks + 1) × blockSize values. It
 * starts as if it had seen `initial` all along.
 */
export class RollingMinimum {
  readonly #blockMinima: Float64Array;
  readonly #blockSize: number;
  #at = 0;
  #minimumOfBlocks: number;
  #blockMinimum = Number.POSITIVE_INFINITY;
  #blockFill = 0;

  constructor(blockSize: number, blocks: number, initial: number) {
    this.#blockSize = blockSize;
    this.#blockMinima = new Float64Array(blocks).fill(initial);
    this.#minimumOfBlocks = initial;
  }

  /** Takes the next value; returns the minimum of the window that ends with it. */
  push(value: number): number {
    if (value < this.#blockMinimum) this.#blockMinimum = value;
    const minimum = Math.min(this.#minimumOfBlocks, this.#blockMinimum);
    if (++this.#blockFill === this.#blockSize) {
      // The block is whole: it replaces the oldest (a scan of `blocks` values once per block).
      this.#blockMinima[this.#at] = this.#blockMinimum;
      this.#at = (this.#at + 1) % this.#blockMinima.length;
      let lowest = Number.POSITIVE_INFINITY;
      for (let i = 0; i < this.#blockMinima.length; i++) lowest = Math.min(lowest, this.#blockMinima[i]!);
      this.#minimumOfBlocks = lowest;
      this.#blockMinimum = Number.POSITIVE_INFINITY;
      this.#blockFill = 0;
    }
    return minimum;
  }
}
