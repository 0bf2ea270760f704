// Debian's Chromium driven by playwright-core (never a downloaded browser),
// with a fake microphone that plays a WAV file once.
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export function launchChromium(
  options: { microphoneWav?: string; grantMicrophone?: boolean; fakeMicrophone?: boolean } = {},
): Promise<Browser> {
  const args = [
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-sandbox",
    "--disable-gpu",
    "--autoplay-policy=no-user-gesture-required",
  ];
  if (options.microphoneWav || options.fakeMicrophone) args.push("--use-fake-device-for-media-stream");
  if (options.microphoneWav) args.push(`--use-file-for-fake-audio-capture=${options.microphoneWav}%noloop`);
  if (options.grantMicrophone ?? true) args.push("--use-fake-ui-for-media-stream");
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}
