// What the page's link (the store's QR code) says: which store, which
// purchase, and whether the microphone's audio goes without echo cancellation.
const params = new URLSearchParams(location.search);

/** The store the link (its QR code) names; none: nothing can be started (no default store). */
export const storeCode = params.get("store") ?? "";
/** ?audio=raw: the microphone without the browser's echo cancellation (see openMicrophone). */
export const rawAudio = params.get("audio") === "raw";
/** The purchase or receipt this feedback is about, when the store's QR code carries it. */
export const receipt = params.get("receipt") ?? undefined;
