// What a running conversation holds that no screen shows: its socket, its
// audio both ways and the microphone, where a dropped socket joins again.
// One object shared by the parts that set the conversation up, keep it
// connected and end it (conversation.ts, reconnection.ts, liveEvents.ts).
import type { Connection } from "./connection.ts";
import type { VoiceLink } from "./voice.ts";

export interface Call {
  connection?: Connection;
  voice?: VoiceLink;
  microphone?: MediaStreamTrack;
  /** Where this conversation's socket joins, and with which token (a dropped socket joins again). */
  session?: { url: string; token: string };
  /** Media being set up again after a MediaReset; a second reset meanwhile sets it up once more after. */
  mediaReset?: { again: boolean };
  /** Plays the AI's voice (the page's <audio> element). */
  aiAudio?: HTMLAudioElement;
  /** Ends the wait for the reward on the socket: it arrived, or the socket closed. */
  rewardWaitOver?: () => void;
}

/** Closes the audio link (its transports); the microphone track and the socket stay. */
export function stopVoice(call: Call): void {
  call.voice?.stop();
  call.voice = undefined;
}

/** Lets go of everything: audio, microphone, socket. */
export function hangUp(call: Call): void {
  stopVoice(call);
  call.microphone?.stop();
  call.microphone = undefined;
  call.connection?.close();
}
