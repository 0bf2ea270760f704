import type { Tiles as TilesData } from "@parley/proto/wall";
import { Show } from "solid-js";
import { tileFigures } from "./tileFigures.ts";
import { formatMoney, formatNumber, t } from "./ui.ts";

/** The wall's headline figures: live now is the wall's own count; the rest comes from the history. */
export function Tiles(props: { liveNow: number; tiles: TilesData | undefined }) {
  const tiles = () => props.tiles;
  const figures = () => tileFigures(props.tiles);
  const delta = () => figures().delta;
  const shown = (value: number | undefined) => (value === undefined ? "—" : formatNumber(value));
  return (
    <section class="tiles">
      <div class="tile live" data-testid="tile-live">
        <span class="label">{t("tile.live")}</span>
        <span class="value">{props.liveNow}</span>
      </div>
      <div class="tile" data-testid="tile-today">
        <span class="label">{t("tile.today")}</span>
        <span class="value">{tiles()?.todayCount ?? "—"}</span>
      </div>
      <div class="tile" data-testid="tile-average">
        <span class="label">{t("tile.avg")}</span>
        <span class="value">{shown(figures().todayAverage)}</span>
        <span class="sub">
          {t("tile.baseline", { value: shown(figures().baselineAverage) })}
          <Show when={delta() !== undefined}>
            <span class={delta()! >= 0 ? "up" : "down"}>
              {" "}
              {delta()! >= 0 ? "▲" : "▼"} {formatNumber(Math.abs(delta()!))}
            </span>
          </Show>
        </span>
      </div>
      <div class="tile" data-testid="tile-above">
        <span class="label">{t("tile.above")}</span>
        <span class="value">
          {figures().shareAbove === undefined ? "—" : `${formatNumber(100 * figures().shareAbove!)} %`}
        </span>
        <span class="sub">{t("tile.aboveHint", { value: tiles()?.rewardThreshold ?? 40 })}</span>
      </div>
      <div class="tile" data-testid="tile-paid">
        <span class="label">{t("tile.paid")}</span>
        <span class="value">{tiles() ? formatMoney(tiles()!.paidTodayMinor, tiles()!.currency) : "—"}</span>
        <Show when={tiles()}>
          {(x) => (
            <span class="sub" data-testid="tile-granted">
              {t("tile.granted", { amount: formatMoney(x().grantedTodayMinor, x().currency) })}
            </span>
          )}
        </Show>
      </div>
      <div class={`tile ${tiles()?.fraudFlagsToday ? "warn" : ""}`} data-testid="tile-fraud">
        <span class="label">{t("tile.fraud")}</span>
        <span class="value">{tiles()?.fraudFlagsToday ?? "—"}</span>
      </div>
    </section>
  );
}
