import type { StoreInfo } from "@parley/proto/wall";
import { For } from "solid-js";
import type { Filter } from "./state.ts";
import { t, topic } from "./ui.ts";

export function Filters(props: {
  filter: Filter;
  set: <K extends keyof Filter>(key: K, value: Filter[K]) => void;
  stores: StoreInfo[];
  topics: string[];
  languages: string[];
}) {
  return (
    <section class="filters" data-testid="filters">
      <label>
        {t("filter.store")}
        <select value={props.filter.store} onChange={(e) => props.set("store", e.currentTarget.value)}>
          <option value="">{t("filter.allStores")}</option>
          <For each={props.stores}>{(s) => <option value={s.code}>{s.name || s.code}</option>}</For>
        </select>
      </label>
      <label>
        {t("filter.time")}
        <select value={props.filter.time} onChange={(e) => props.set("time", e.currentTarget.value as Filter["time"])}>
          <option value="all">{t("filter.time.all")}</option>
          <option value="hour">{t("filter.time.hour")}</option>
          <option value="today">{t("filter.time.today")}</option>
          <option value="week">{t("filter.time.week")}</option>
        </select>
      </label>
      <label>
        {t("filter.score")}
        <select
          value={props.filter.score}
          onChange={(e) => props.set("score", e.currentTarget.value as Filter["score"])}
        >
          <option value="all">{t("filter.score.all")}</option>
          <option value="low">{t("filter.score.low")}</option>
          <option value="mid">{t("filter.score.mid")}</option>
          <option value="high">{t("filter.score.high")}</option>
        </select>
      </label>
      <label>
        {t("filter.topic")}
        <select value={props.filter.topic} onChange={(e) => props.set("topic", e.currentTarget.value)}>
          <option value="">{t("filter.allTopics")}</option>
          <For each={props.topics}>{(name) => <option value={name}>{topic(name)}</option>}</For>
        </select>
      </label>
      <label>
        {t("filter.sentiment")}
        <select
          value={props.filter.sentiment}
          onChange={(e) => props.set("sentiment", e.currentTarget.value as Filter["sentiment"])}
        >
          <option value="all">{t("filter.sentiment.all")}</option>
          <option value="negative">{t("filter.sentiment.negative")}</option>
          <option value="neutral">{t("filter.sentiment.neutral")}</option>
          <option value="positive">{t("filter.sentiment.positive")}</option>
        </select>
      </label>
      <label>
        {t("filter.status")}
        <select
          value={props.filter.status}
          onChange={(e) => props.set("status", e.currentTarget.value as Filter["status"])}
        >
          <option value="all">{t("filter.status.all")}</option>
          <option value="live">{t("status.live")}</option>
          <option value="ended">{t("status.ended")}</option>
          <option value="flagged">{t("status.flagged")}</option>
        </select>
      </label>
      <label>
        {t("filter.language")}
        <select value={props.filter.language} onChange={(e) => props.set("language", e.currentTarget.value)}>
          <option value="">{t("filter.allLanguages")}</option>
          <For each={props.languages}>{(l) => <option value={l}>{l}</option>}</For>
        </select>
      </label>
    </section>
  );
}
