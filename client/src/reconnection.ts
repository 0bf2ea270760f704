// Keeps a live conversation connected: the audio is set up (and set up again
// when the node moves the session's media), a dropped socket joins again with
// the same token, and a microphone that ended is opened again. What cannot be
// brought back ends or fails the conversation (failures.ts).
import { ErrorCode } from "@parley/proto/ws";
import { type Call, stopVoice } from "./call.ts";
import { Connection, ConnectionLost, ServerError } from "./connection.ts";
import type { ConversationState } from "./conversationState.ts";
import type { Failures } from "./failures.ts";
import type { MessageKey } from "./i18n.ts";
import { say } from "./message.ts";
import { rawAudio } from "./pageLink.ts";
import { connectVoice, openMicrophone } from "./voice.ts";

/** A dropped socket tries to join again this many times (about 45 s with the back-off). */
const REJOIN_ATTEMPTS = 14;
/**
 * How many times in a row the app sets its audio up again when the node's media went away under the
 * setup (a media request answered NOT_FOUND: the node moved the media again, its MediaReset on the way).
 */
const MEDIA_SETUP_ATTEMPTS = 5;

/** A media request answered "unknown": the media it named was replaced, the session lives on. */
const mediaGone = (error: unknown) => error instanceof ServerError && error.code === ErrorCode.NOT_FOUND;

/** What the rest of the conversation does for reconnection (conversation.ts, liveEvents.ts). */
export interface ReconnectionHooks {
  /** Ends the conversation with what was said (the microphone is lost for good). */
  finish(): Promise<void>;
  /** Takes a newly joined socket's live events and its end. */
  listen(c: Connection): void;
  /** Asks the records for the reward of a conversation that ended while away. */
  rewardFromRecords(): Promise<void>;
}

export type Reconnection = ReturnType<typeof createReconnection>;

export function createReconnection(state: ConversationState, call: Call, failures: Failures, hooks: ReconnectionHooks) {
  const { phase, setNotice, clearNotice, setMicMuted, setAiSpeech, rejoining, setRejoining, setAudioResetting } = state;
  const { fail, failWith } = failures;

  /**
   * Notices the microphone ending (unplugged, permission revoked, the OS took it),
   * and the OS pausing it for a while (a phone call, a locked screen on iOS).
   */
  function watched(track: MediaStreamTrack): MediaStreamTrack {
    track.addEventListener("ended", () => {
      if (track === call.microphone) void microphoneEnded();
    });
    track.addEventListener("mute", () => {
      if (track === call.microphone) setMicMuted(true);
    });
    track.addEventListener("unmute", () => {
      if (track === call.microphone) setMicMuted(false);
    });
    return track;
  }

  /** Opens the microphone again and sends it on the same producer; else ends the conversation with what was said. */
  async function microphoneEnded() {
    if (phase() !== "live") return;
    // Media being set up again (a rejoin, a moved worker) keeps its notice, which says more, and
    // picks the new track up itself (openVoice).
    const settingUpMedia = () => rejoining() || call.mediaReset !== undefined;
    if (!settingUpMedia()) setNotice(say("micReopening"));
    try {
      const track = watched(await openMicrophone(rawAudio));
      if (phase() !== "live") {
        track.stop();
        return;
      }
      call.microphone = track;
      setMicMuted(track.muted);
      await call.voice?.replaceMicrophone(track);
      if (!settingUpMedia()) clearNotice("micReopening");
    } catch {
      setNotice(say("micLost"));
      void hooks.finish();
    }
  }

  /**
   * Microphone up, the AI's voice down, on the session's media of the moment. A microphone
   * opened again meanwhile (the old track ended during the setup) replaces the one it started with.
   */
  async function openVoice(c: Connection, mic: MediaStreamTrack) {
    call.voice = await connectVoice(c, mic, (error) => mediaLost(c, error));
    if (call.microphone && call.microphone !== mic) await call.voice.replaceMicrophone(call.microphone);
    if (call.aiAudio) {
      call.aiAudio.srcObject = new MediaStream([call.voice.aiVoice]);
      // Started by the tap on "Start talking". After a reload no tap came: the browser may hold the
      // voice back until the customer touches the page.
      void call.aiAudio.play().catch(playOnNextTouch);
    }
  }

  function playOnNextTouch() {
    const play = () => {
      document.removeEventListener("pointerdown", play);
      document.removeEventListener("keydown", play);
      void call.aiAudio?.play().catch(() => {});
    };
    document.addEventListener("pointerdown", play);
    document.addEventListener("keydown", play);
  }

  /** ICE restarts did not bring a transport back: set the media up again on the same socket. */
  function mediaLost(c: Connection, error: unknown) {
    if (c !== call.connection || phase() !== "live" || rejoining()) return;
    console.warn("audio connection lost:", error);
    if (error instanceof ConnectionLost) {
      // The node left the restart unanswered: as when it leaves a media setup unanswered, give
      // that socket up and join again (a closed one joins again through its close handler).
      if (!c.open) return;
      c.abandon();
      void rejoin();
    } else void reconnectVoice();
  }

  /** The node moved the session's media to another worker: set the transports up again; the conversation goes on. */
  async function reconnectVoice() {
    if (call.mediaReset) {
      call.mediaReset.again = true; // the node's media changed again under the setup in progress
      return;
    }
    const c = call.connection;
    if (!c || !call.microphone || phase() !== "live" || rejoining()) return; // a rejoin sets media up itself
    const mediaReset = { again: false };
    call.mediaReset = mediaReset;
    setAudioResetting(true);
    setNotice(say("reconnectingAudio"));
    try {
      let setups = 0;
      do {
        mediaReset.again = false;
        stopVoice(call);
        const mic = call.microphone;
        if (!mic) return; // hung up meanwhile
        try {
          await openVoice(c, mic);
        } catch (error) {
          // Moved again under this setup: its new media may not be ready yet (its MediaReset comes
          // then), so wait a little, longer each time. An ended session closes the socket.
          if (!mediaGone(error) || !c.open || ++setups >= MEDIA_SETUP_ATTEMPTS) throw error;
          await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** setups, 4_000)));
          mediaReset.again = true;
        }
      } while (mediaReset.again && c === call.connection && phase() === "live");
      clearNotice("reconnectingAudio");
    } catch (error) {
      if (c !== call.connection || rejoining() || phase() !== "live") return;
      if (error instanceof ConnectionLost) {
        // The socket dropped meanwhile: its close handler joins again and sets the media up.
        if (!c.open) return;
        // Or it is open but the node stopped answering (a request timed out): no close will come,
        // so give it up and join again as after a drop.
        c.abandon();
        void rejoin();
        return;
      }
      failWith(error);
    } finally {
      call.mediaReset = undefined;
      setAudioResetting(false);
    }
  }

  /**
   * The socket dropped mid-conversation: join again (the node resumes the
   * conversation, from its records if it restarted) and set the audio up
   * again; the transcript so far comes back by segment id, so nothing shows twice.
   */
  async function rejoin(why: MessageKey = "rejoining") {
    const joinAt = call.session;
    if (!call.microphone || !joinAt) return fail(say("connectionLost"));
    if (rejoining()) return; // one loop at a time: two would take the session from each other
    setRejoining(true);
    stopVoice(call);
    // Whatever the AI was saying died with the old connection; a new reply announces itself.
    setAiSpeech("none");
    setNotice(say(why));
    /** The node's answer that ended the attempts, if it gave one. */
    let refusal: ServerError | undefined;
    try {
      for (let attempt = 0; attempt < REJOIN_ATTEMPTS && phase() === "live"; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 4_000)));
        let joined: Connection | undefined;
        // The microphone of this attempt: it may have been opened again since the last.
        const mic = call.microphone;
        if (!mic) break; // hung up meanwhile
        try {
          joined = await Connection.join(joinAt.url, joinAt.token, hooks.listen);
          call.connection = joined;
          await openVoice(joined, mic);
          setNotice(undefined);
          return;
        } catch (error) {
          // Joined but no audio: that socket is given up on, quietly (its close must not end the session).
          joined?.abandon();
          stopVoice(call); // what openVoice got up before it failed
          // The conversation is gone (ended, or its token expired): no point trying again. (A media
          // request's NOT_FOUND after the join succeeded is media moved under the setup: try again.)
          if (error instanceof ServerError && error.code !== ErrorCode.UNAVAILABLE && !(joined && mediaGone(error))) {
            refusal = error;
            break;
          }
        }
      }
      if (phase() === "live") {
        failWith(refusal ?? new ConnectionLost("lost"));
        // The conversation ended meanwhile (while away, or the page was reloaded too late): its reward, if
        // any, is decided all the same.
        if (refusal?.code === ErrorCode.NOT_FOUND) void hooks.rewardFromRecords();
      }
    } finally {
      setRejoining(false);
    }
  }

  return { watched, microphoneEnded, openVoice, reconnectVoice, rejoin };
}
