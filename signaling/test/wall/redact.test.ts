// Redaction for public screens: the phrases a business lists (mostly staff
// names) are replaced where they stand as whole words, in any case, Swedish
// letters included; never inside another word.
import { describe, expect, it } from "vitest";
import { redact } from "../../src/wall/moderation/WallModeration.ts";

describe("redaction of public feedback", () => {
  it("replaces staff names as whole words only, not inside other words", () => {
    const phrases = ["Al", "Ed"];
    expect(redact("I was assured the mellow music helped, Ed said", phrases)).toBe(
      "I was assured the mellow music helped, ███ said",
    );
    expect(redact("AL and ed were great; also Edith and Alva", phrases)).toBe(
      "███ and ███ were great; also Edith and Alva",
    );
    expect(redact("Al's advice, (Ed)", phrases)).toBe("███'s advice, (███)");
  });

  it("knows Swedish letters are letters, in either case", () => {
    expect(redact("Åsa hjälpte mig, åsa är bäst, men Åsas kollega inte", ["åsa"])).toBe(
      "███ hjälpte mig, ███ är bäst, men Åsas kollega inte",
    );
    // A name next to å, ä or ö is inside a word: "Ed" in "Edö", "Ola" in "Kolaä".
    expect(redact("Edö och kolaä, Ola och Ed", ["Ed", "Ola"])).toBe("Edö och kolaä, ███ och ███");
    expect(redact("Önskar att Björn Ström kom", ["björn ström"])).toBe("Önskar att ███ kom");
  });

  it("takes the longest phrase first, any spacing within it, and regex characters as they are", () => {
    expect(redact("Anna  Svensson at the till, anna knows", ["Anna", "Anna Svensson"])).toBe(
      "███ at the till, ███ knows",
    );
    expect(redact("price (a+b) was high, not a+bc", ["(a+b)"])).toBe("price ███ was high, not a+bc");
    expect(redact("the $5 deal.", ["$5"])).toBe("the ███ deal.");
    expect(redact("no phrases", [" ", ""])).toBe("no phrases");
  });
});
