// What public screens never show of a customer's words: e-mail addresses and
// phone numbers (written in English or Swedish styles, or said as words), while
// short numbers, dates and opening hours stay as they were said.
import { describe, expect, it } from "vitest";
import { maskContacts } from "../../src/wall/moderation/contacts.ts";

const M = "███";

describe("masking contacts for public screens", () => {
  it("masks phone numbers written in Swedish and international styles", () => {
    const numbers = [
      "0701234567",
      "070-1234567",
      "070-123 45 67",
      "070 123 45 67",
      "070-123-45-67",
      "070.123.45.67",
      "+46 70 123 45 67",
      "+46701234567",
      "+46 (0)70-123 45 67",
      "+46-70-123 45 67",
      "08-123 456 78",
      "08 - 123 456 78",
      "08-12 34 56",
      "031-123 45 67",
      "(555) 123-4567",
      "555.123.4567",
      "555-123-4567",
      "+1 555 123 4567",
      "+44 20 7946 0958",
      "1234567",
    ];
    for (const number of numbers) {
      expect(maskContacts(`call me on ${number} please`), number).toBe(`call me on ${M} please`);
      expect(maskContacts(number), number).toBe(M);
      expect(maskContacts(`ring ${number}.`), number).toBe(`ring ${M}.`);
    }
    expect(maskContacts("my number (070 123 45 67) is fine")).toBe(`my number (${M}) is fine`);
    expect(maskContacts("tel:0701234567, thanks")).toBe(`tel:${M}, thanks`);
  });

  it("masks e-mail addresses, written or said aloud", () => {
    const addresses = [
      "anna.svensson@example.com",
      "Anna.Svensson@Example.COM",
      "a@b.se",
      "first_last+tag@mail.example.co.uk",
      "björn.åström@företag.se",
      "kund-123@butik.nu",
      "anna.svensson @ example.com",
    ];
    for (const address of addresses) {
      expect(maskContacts(`mail ${address} please`), address).toBe(`mail ${M} please`);
      expect(maskContacts(`(${address}).`), address).toBe(`(${M}).`);
    }
    expect(maskContacts("mail anna dot svensson at example dot com today")).toBe(`mail ${M} today`);
    expect(maskContacts("mejla anna punkt svensson snabel-a exempel punkt se tack")).toBe(`mejla ${M} tack`);
  });

  it("masks phone numbers said digit by digit, in English or Swedish", () => {
    expect(maskContacts("call zero seven zero one two three four five six seven thanks")).toBe(`call ${M} thanks`);
    expect(maskContacts("ring noll sju noll, ett två tre, fyra fem, sex sju tack")).toBe(`ring ${M} tack`);
    expect(maskContacts("call oh seven oh 123 45 67")).toBe(`call ${M}`);
    // Fewer than seven digits: a count, not a number.
    expect(maskContacts("one two three four, I counted the queue")).toBe("one two three four, I counted the queue");
    expect(maskContacts("vi var en två tre personer")).toBe("vi var en två tre personer");
  });

  it("masks phone numbers read in pairs and tens, in English or Swedish", () => {
    expect(maskContacts("call oh seven oh, twelve, thirty-four, fifty six please")).toBe(`call ${M} please`);
    expect(maskContacts("call me on seven oh seven, double five, eighty one, twenty two")).toBe(`call me on ${M}`);
    expect(maskContacts("ring noll sju noll, tolv, trettiofyra, femtiosex tack")).toBe(`ring ${M} tack`);
    expect(maskContacts("ring noll sjuttio tolv trettiofyra femtiosex")).toBe(`ring ${M}`);
    expect(maskContacts("ring noll åtta, sjutti tre, fyrtiofem, tjugoett")).toBe(`ring ${M}`);
    // A ten and its unit are one pair ("seventy five" is two digits): three pairs are six, not a number.
    expect(maskContacts("we paid seventy five, then twenty two, then thirty")).toBe(
      "we paid seventy five, then twenty two, then thirty",
    );
    expect(maskContacts("it was twenty five past ten")).toBe("it was twenty five past ten");
    expect(maskContacts("vi väntade tjugofem minuter, sen femton till")).toBe(
      "vi väntade tjugofem minuter, sen femton till",
    );
  });

  it("leaves amounts with a currency alone, however many digits", () => {
    const kept = [
      "the kitchen cost 1 500 000 kr in the end",
      "renoveringen kostade 2500000 kronor",
      "a bill of SEK 1 250 000 for the firm",
      "they raised $1,250,000 last year",
      "det kostade 1 299 000:- tror jag",
    ];
    for (const text of kept) expect(maskContacts(text), text).toBe(text);
    // A currency elsewhere in the sentence does not protect a number.
    expect(maskContacts("I paid 45 kr, call me on 0701234567")).toBe(`I paid 45 kr, call me on ${M}`);
  });

  it("masks a phone number said next to an amount, written or in words", () => {
    const cases: [string, string][] = [
      ["swisha till 070 123 45 67 200 kr", `swisha till ${M} kr`],
      ["swish me on 0701234567 50 kr please", `swish me on ${M} kr please`],
      ["my number 0701234567 $20 refund", `my number ${M} $20 refund`],
      ["ring 070 123 45 67 kr 50", `ring ${M} kr 50`],
      ["I paid 45 kr 0701234567", `I paid 45 kr ${M}`],
      ["call 555 123 4567 dollars", `call ${M} dollars`],
      ["refund to 46701234567 sek", `refund to ${M} sek`],
      ["call zero seven zero one two three four five six seven, fifty dollars back", `call ${M} dollars back`],
      ["ring noll sju noll, tolv, trettiofyra, femtiosex kronor", `ring ${M} kronor`],
    ];
    for (const [said, shown] of cases) expect(maskContacts(said), said).toBe(shown);
  });

  it("masks the reviewer's example, every contact in it", () => {
    expect(maskContacts("call me back on 0701234567 or mail anna.svensson@example.com")).toBe(
      `call me back on ${M} or mail ${M}`,
    );
  });

  it("leaves short numbers, prices, dates, times and ordinary words alone", () => {
    const kept = [
      "I waited 10 minutes for 2 coffees at SEK 45",
      "the coffee cost 45 kr and the cake 1 299 kr",
      "order 12345 was late",
      "kvitto nr 123456",
      "open 10.00-18.00 every day",
      "öppet 10.00–18.00 på lördagar",
      "on 2026-11-27 the queue was long",
      "den 27.11.2026 var det fullt",
      "at 10:30 and 11:45 it was quiet",
      "we were 3 adults and 2 kids, 5 in all",
      "the price went from 39.90 to 45.50",
      "Version 1.2.3 of the app",
      "someone said one thing, then another",
      "Tack! Det var en sju dagars vecka",
      "price (a+b) was high",
      "20% off, 3 for 2",
      "rated it 10/10",
      "at the store at noon, the staff were great",
      "email me later, or call the store",
      "no @ sign here @ all",
    ];
    for (const text of kept) expect(maskContacts(text), text).toBe(text);
  });
});
