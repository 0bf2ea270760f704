// Swedish word families of the built-in rubric, the same kinds as the English
// ones in lexicon.ts (see RUBRIC.md). Adjectives are listed in their common
// forms (kall kallt kalla), nouns as spoken with or without the article
// (kaffe kaffet, kö kön). Kept modest on purpose: a word that is often
// something else is left out (bare "kort" is also "short", "sen" also "then",
// "en"/"ett" are articles, "snälla" both "kind" and "please").
import { type Lexicon, list } from "./lexicon.ts";
import type { Topic } from "./types.ts";

const TOPIC_WORDS: Record<Topic, string[]> = {
  service: list(`service servicen bemötande bemötandet betjäning personal personalen barista baristan baristor
    servitör servitören servitörer servitris servitrisen kassör kassören kassörer kassörska kassörskan expedit
    expediten expediter anställd anställda chef chefen kock kocken otrevlig otrevligt otrevliga trevlig trevligt
    trevliga vänlig vänligt vänliga ovänlig ovänligt ovänliga artig artigt artiga ohövlig ohövligt ohövliga oförskämd
    oförskämt oförskämda hjälpsam hjälpsamt hjälpsamma ohjälpsam ohjälpsamt ohjälpsamma uppmärksam uppmärksamt
    uppmärksamma välkomnande hälsade log ignorerade ihåg attityd attityden ursäkt kunnig kunniga rekommenderade
    förklarade`),
  waiting_time: list(`vänta väntade väntat väntan väntetid väntetiden kö kön köer köerna köade köat köa långsam
    långsamt långsamma snabb snabbt snabba fort evighet evigheter försenad försenat försenade dröjde minut minuter
    minuten minuterna timme timmen timmar sekunder kvart halvtimme`),
  cleanliness: list(`ren rent rena städat städad städade städning smutsig smutsigt smutsiga skitig skitigt skitiga
    stökig stökigt stökiga kladdig kladdigt kladdiga snuskig snuskigt snuskiga äcklig äckligt äckliga fräsch fräscht
    fräscha ofräsch ofräscht ofräscha toalett toaletten toaletter toaletterna toa toan golv golvet golven hygien
    hygienen lukt lukten luktade stank smulor fläck fläckar sopor soporna papperskorg damm dammigt torkat`),
  price: list(`pris priset priser priserna dyr dyrt dyra svindyr svindyrt svindyra billig billigt billiga billigare
    kostar kostade kostnad överprisad överprisat överprisade prisvärd prisvärt prisvärda kronor krona kr spänn euro
    dollar notan nota rabatt rabatten erbjudande värt pengar pengarna överdebiterade`),
  product_quality: list(`smak smaken smakade smakar gott goda läcker läckert läckra jättegod jättegott jättegoda
    smaklös smaklöst smaklösa blaskig blaskigt blaskiga fadd färsk färskt färska unken unket unkna bränd bränt brända
    kall kallt kalla varm varmt varma ljummen ljummet ljumma rå kvalitet kvaliteten kaffe kaffet latte latten
    cappuccino cappuccinon espresso espresson te teet chai mat maten måltid måltiden smörgås smörgåsen smörgåsar
    macka mackan mackor mackorna fralla frallan croissant croissanten bulle bullen bullar bullarna kanelbulle kanelbullen kanelbullar kanelbullarna
    kaka kakan kakor kakorna tårta tårtan muffins bagel hamburgare pizza pizzan sallad salladen soppa soppan pommes bröd
    brödet smoothie juice dryck drycken drycker portion portionen mjölk mjölken produkt produkten produkter varan
    varor varorna`),
  payment: list(`kortet korten kortläsare kortläsaren kortterminal kortterminalen terminal terminalen betalning
    betalningen betala betalade betalat kontant kontanter kassa kassan kassaapparat kassaapparaten kvitto kvittot
    återbetalning swish swisha app appen automat automaten nekades kontaktlöst`),
  atmosphere: list(`musik musiken ljud ljudet ljudnivå ljudnivån högljudd högljutt högljudda bullrig bullrigt buller
    tyst lugnt lugn atmosfär atmosfären stämning stämningen miljö miljön sittplatser sittplats stol stolar
    stolarna trångt trång fullsatt mysig mysigt mysiga belysning belysningen inredning inredningen temperatur
    temperaturen bekväm bekvämt bekväma obekväm obekvämt obekväma`),
  availability: list("lager lagret slutsåld slutsålt slutsålda"),
};

const SOLD_OUT = ["var slut", "tog slut", "slut på", "är slut", "fanns inte"];

const STAFF = new Set(
  list(`barista baristan baristor servitör servitören servitörer servitris servitrisen kassör kassören kassörer
    kassörska kassörskan expedit expediten chef chefen butikschef kock kocken bartender namn`),
);
const PLACES = new Set(
  list(
    "toalett toaletten toaletter toaletterna toa toan bord bordet borden golv golvet golven dörr dörren fönster fönstret disken",
  ),
);

const REFERENTS = new Set([
  ...STAFF,
  ...PLACES,
  ...list(`kaffe kaffet latte latten cappuccino cappuccinon espresso espresson te teet chai smörgås smörgåsen smörgåsar
    macka mackan mackor mackorna fralla frallan croissant croissanten bulle bullen bullar bullarna kanelbulle kanelbullen kanelbullar kanelbullarna
    kaka kakan kakor kakorna tårta tårtan muffins bagel hamburgare pizza pizzan sallad salladen soppa soppan pommes bröd
    brödet smoothie juice mjölk mjölken socker servett servetter kopp koppen mugg muggen lock locket sugrör
    beställning beställningen kvitto kvittot kortet kortläsare kortläsaren kortterminal kortterminalen terminal
    terminalen kassa kassan kassaapparat kassaapparaten swish app appen automat automaten meny menyn hylla hyllan
    hyllor hyllorna kyl kylen kylskåp kylskåpet korg korgen kundvagn kundvagnen påse påsen påsar parkering
    parkeringen`),
]);

const UNITS_OF_TIME = list(`sekund sekunder sekunden sekunderna minut minuter minuten minuterna min timme timmen
  timmar timmarna kvart kvarten halvtimme halvtimmen`);
const UNITS_OF_MONEY = list("kronor krona kr spänn euro euros dollar öre");

const TENS = list("tjugo trettio fyrtio femtio sextio sjuttio åttio nittio");
const ONES = list("ett en två tre fyra fem sex sju åtta nio");

const EXPECTATIONS = new Set(
  list(`fungerade fungerar fungera funkade funkar funka kom kommer komma fick får få hälsade hälsar hälsa svarade
    svarar svara hjälpte hjälper hjälpa lyssnade lyssnar lyssna ringde ringer sa sade säger gick`),
);
const GOOD_ACTIONS = new Set(
  list(`ihåg mindes rekommenderade hjälpte förklarade hälsade erbjöd märkte tackade ursäkt ersatte bytte fixade
    lagade föreslog kollade kontrollerade återbetalade`),
);

const weights = (weight: number, words: string): [string, number][] => list(words).map((w) => [w, weight]);

// Weights as for the English words they translate ("otrevlig" as "rude", "bra" as "good").
const SENTIMENT = new Map<string, number>([
  ...weights(2, `utmärkt utmärkta fantastisk fantastiskt fantastiska underbar underbart underbara perfekt perfekta`),
  ...weights(
    1.5,
    `jättebra superbra toppen grym grymt grymma härlig härligt härliga jättegod jättegott jättegoda
    läcker läckert läckra bäst bästa älskar älskade imponerad imponerade`,
  ),
  ...weights(
    1,
    `bra god gott goda fin fint fina trevlig trevligt trevliga vänlig vänligt vänliga hjälpsam hjälpsamt
    hjälpsamma artig artigt artiga effektiv effektivt effektiva glad glada nöjd nöjt nöjda gillar gillade
    rekommenderar välkomnande uppmärksam uppmärksamt uppmärksamma professionell professionellt professionella schysst
    schyst`,
  ),
  ...weights(
    0.8,
    `färsk färskt färska fräsch fräscht fräscha ren rent rena städat städad snabb snabbt snabba mysig
    mysigt mysiga prisvärd prisvärt prisvärda bekväm bekvämt bekväma`,
  ),
  ...weights(0.6, "ihåg log rimlig rimligt rimliga"),
  ...weights(0.5, "snäll snällt snälla tack"),
  ...weights(-0.4, "väntade väntat"),
  ...weights(-0.5, "högljudd högljutt högljudda trång trångt"),
  ...weights(
    -0.6,
    `kall kallt kalla ljummen ljummet ljumma dyr dyrt dyra försenad försenat försenade bullrig bullrigt
    nekades`,
  ),
  ...weights(
    -0.8,
    `kladdig kladdigt kladdiga seg segt sega smaklös smaklöst smaklösa blaskig blaskigt blaskiga fadd
    glömde misstag problem problemet rörig rörigt röriga krånglig krångligt krångliga kraschade tråkig tråkigt tråkiga
    sämre`,
  ),
  ...weights(
    -1,
    `dålig dåligt dåliga stökig stökigt stökiga långsam långsamt långsamma unken unket unkna bränd bränt
    brända trasig trasigt trasiga sönder fel överprisad överprisat överprisade svindyr svindyrt svindyra sur surt
    sura`,
  ),
  ...weights(
    -1.2,
    `ohövlig ohövligt ohövliga ovänlig ovänligt ovänliga ohjälpsam ohjälpsamt ohjälpsamma smutsig
    smutsigt smutsiga skitig skitigt skitiga irriterad irriterade irriterande frustrerad frustrerade frustrerande
    upprörd upprörda ignorerade lat lata`,
  ),
  ...weights(
    -1.5,
    `otrevlig otrevligt otrevliga oförskämd oförskämt oförskämda besviken besviket besvikna besvikelse
    arg arga hatar hatade värdelös värdelöst värdelösa`,
  ),
  ...weights(
    -2,
    `usel uselt usla hemsk hemskt hemska fruktansvärd fruktansvärt fruktansvärda sämst sämsta värst
    värsta snuskig snuskigt snuskiga äcklig äckligt äckliga oacceptabel oacceptabelt oacceptabla`,
  ),
]);

export const SWEDISH: Lexicon = {
  language: "sv",
  topicWords: TOPIC_WORDS,
  topicPairs: new Map<string, Topic>([
    ...SOLD_OUT.map((p): [string, Topic] => [p, "availability"]),
    ["en evighet", "waiting_time"],
  ]),
  referents: REFERENTS,
  vagueReferents: new Set(
    list(`personal personalen mat maten dryck drycken drycker produkt produkten produkter varan varor varorna ställe
      stället butik butiken affär affären folk någon kille killen tjej tjejen dam damen kvinna kvinnan anställd
      anställda service måltid måltiden`),
  ),
  numberWords: new Set([
    ...list(`två tre fyra fem sex sju åtta nio tio elva tolv tretton fjorton femton sexton sjutton arton nitton
      hundra tusen halv halva dubbelt`),
    ...TENS,
    ...TENS.flatMap((ten) => ONES.map((one) => ten + one)),
  ]),
  notNumberAfter: new Map(),
  articles: new Set(["en", "ett"]),
  vagueQuantities: new Set(list("några par flera massa")),
  units: new Set([...UNITS_OF_TIME, ...UNITS_OF_MONEY, "gånger", "procent"]),
  timeUnits: new Set(UNITS_OF_TIME),
  moneyUnits: new Set(UNITS_OF_MONEY),
  timeReferences: new Set(
    list(`idag igår ikväll imorse morse morgon morgonen förmiddag förmiddagen eftermiddag eftermiddagen kväll
      kvällen natt natten lunch lunchen lunchtid lunchtiden frukost frukosten middag middagen måndag tisdag onsdag
      torsdag fredag lördag söndag måndags tisdags onsdags torsdags fredags lördags söndags helg helgen klockan
      tidigare`),
  ),
  causal: new Set(list("eftersom därför vilket tills när efter så för")),
  causalOnlyBefore: new Map([
    // "så jag ..." and, in Swedish word order, "så fick jag ..." (not "så bra"); "för att" (not "för dyrt").
    ["så", new Set(list("jag vi det den de dom man hon han du ni fick gick blev kom måste hade väntade tog"))],
    ["för", new Set(["att"])],
  ]),
  problems: new Set(
    list(`misslyckades trasig trasigt trasiga sönder fel saknades saknas glömde glömt ignorerade ignorerad otrevlig
      otrevligt otrevliga oförskämd oförskämt oförskämda ohövlig ohövligt ohövliga ovänlig ovänligt ovänliga
      ohjälpsam ohjälpsamt ohjälpsamma långsam långsamt långsamma smutsig smutsigt smutsiga skitig skitigt skitiga
      snuskig snuskigt snuskiga äcklig äckligt äckliga stökig stökigt stökiga kladdig kladdigt kladdiga kall kallt
      kalla ljummen ljummet ljumma unken unket unkna bränd bränt brända smaklös smaklöst smaklösa blaskig blaskigt
      blaskiga fadd rå misstag spillde kraschade nekades väntade väntat köade köat dyr dyrt dyra svindyr svindyrt
      svindyra överprisad överprisat överprisade överdebiterade försenad försenat försenade bullrig bullrigt
      högljudd högljutt högljudda trångt problem problemet problemen strul strulade krånglig krångligt krångliga
      rörig rörigt röriga underbemannad underbemannat tom tomt tomma vägrade sur surt sura`),
  ),
  problemPairs: new Set([...SOLD_OUT, "gick sönder", "en evighet", "tog evigheter"]),
  suggestions: new Set(
    list(`borde bör önskar önskade önskan föreslår förslag behöver behövs behöva förbättra förbättras förbättring
      anställ anställa utbilda utbildning fixa laga istället kanske hoppas vore`),
  ),
  suggestionPairs: new Set([
    "mer personal",
    "fler kassor",
    "fler kassörer",
    "skulle vilja",
    "bättre om",
    "skulle kunna",
    "kunde ha",
  ]),
  goodActions: GOOD_ACTIONS,
  expectations: EXPECTATIONS,
  visitWords: new Set(
    list(`besök besöket besökte kom gick handlade handla beställde beställt beställning beställningen köpte köpt köp
      köpet hämtade butik butiken affär affären kafé kaféet café caféet fik fiket restaurang restaurangen filial
      filialen kassan disken inne idag här betalade betalat`),
  ),
  offTopic: new Set(
    list(`väder vädret regn regnar regnade sol solen snö fotboll match matchen politik politiken valet film filmen
      filmer netflix tv hund hunden katt katten semester semestern trafik trafiken skola skolan läxor flickvän
      pojkvän nyheter nyheterna krypto bitcoin kändis kändisar podd podden`),
  ),
  fillers: new Set(list("eh öh ehm äh öhm hmm mm mhm asså typ liksom ba ja jaa okej ok whatever")),
  fillerPairs: new Set(["du vet", "jag menar", "jag antar", "eller hur", "eller så", "typ så"]),
  negators: new Set(list("inte ej aldrig ingen inget inga ingenting knappt varken icke")),
  negationBarriers: new Set(list("men och utan")),
  postNegated: new Set([
    ...EXPECTATIONS,
    ...GOOD_ACTIONS,
    ...list("gillar gillade älskar älskade rekommenderar väntade väntat köade köat glömde ignorerade"),
  ]),
  postNegationSkip: new Set(list("jag vi den det de dom han hon ni du man mig oss dig er honom henne dem")),
  intensifiers: new Set(
    list("mycket väldigt jätte riktigt extremt otroligt så super verkligen helt totalt sjukt för alldeles"),
  ),
  likeVerbs: new Set(),
  likeFiller: undefined,
  likeSubjects: new Set(),
  stopwords: new Set(
    list(`och i att det som en ett på är av för med till den de dom om men var jag så vi han hon man kan ska skulle
      kunde vill vara varit blev bli blir blivit ha har hade haft gör gjorde göra få fick fått mig min mitt mina oss
      vår vårt våra du dig din ditt dina ni er era dem deras sig sin sitt sina där då nu bara också lite mycket
      väldigt riktigt ganska jätte ju nog väl alla allt något någon några vad vilken vem hur från vid över under mot
      upp ut in denna detta dessa än eller hos åt sen sedan sak saker`),
  ),
  sentiment: SENTIMENT,
  longWords: new Set(list("lång långa länge")),
  longAfter: new Set(list("tog tar tagit väntade väntat vänta köade köat dröjde stod")),
  stateProblems: new Set(list("full fullt fulla stängd stängt stängda")),
  stateAfter: new Set(list("var är varit blev")),
  stateNotBefore: new Set(list("av med")),
  staff: STAFF,
  places: PLACES,
};
