// The English prose that fnprobe-make-model trains its tokenizers on:
// short original paragraphs on varied subjects, so that the learned merges
// look like those of a real English BPE (" the", "ing", " of", ...).
//
// Changing this text changes every generated tokenizer (and so the ids of
// every generated model): treat it as frozen.
#include "absl/strings/string_view.h"
#include "server/inference/tools/model_maker.h"

namespace fnprobe {
namespace {

constexpr char kCorpus[] = R"corpus(
The history of science is the story of people learning to ask better
questions. Early astronomers watched the sky for years and wrote down the
positions of the planets, long before anyone could explain why they moved.
Their careful records later allowed others to test new ideas against the
evidence, and the ideas that failed the test were slowly abandoned.

A cell is the smallest unit of life that can live on its own. Inside every
cell, thousands of proteins fold into precise shapes and carry out the work
of the body: they build, repair, signal and defend. When a protein folds the
wrong way, the result can be a disease that is very hard to treat.

Medicine changed more in the last two centuries than in all the time before.
Doctors learned to wash their hands, to keep wounds clean and to test new
treatments on large groups of patients. Vaccines protected children from
illnesses that had once killed millions, and antibiotics turned many deadly
infections into minor problems that could be cured within a week.

In the ancient world, cities grew where rivers met fertile land. Farmers
along the Nile, the Tigris and the Euphrates learned to store water for the
dry months, and the surplus of grain they produced supported priests,
soldiers, scribes and kings. Writing itself may have begun as a way of
counting sheep, jars of oil and measures of barley.

Democracy asks citizens to govern themselves, which is harder than it
sounds. Voters must choose between parties whose promises often conflict,
and elected leaders must balance the interests of the present against the
needs of the future. A free press, independent courts and fair elections
are the institutions that keep power from gathering in too few hands.

The painter stood back from the canvas and studied the light. She had spent
the whole morning on the color of the water, mixing blue with a little green
and a touch of grey, and still the river did not look alive. Art, she often
said, is the patient work of seeing what is really there.

Forests cover nearly a third of the land on Earth. They store carbon, shelter
animals and plants, and hold the soil in place when heavy rain falls. In a
healthy forest the dead leaves and fallen trees are broken down by fungi and
insects, returning their nutrients to the ground for the next generation.

Mathematics is sometimes called the language of nature. A few simple rules,
written in symbols, can describe the orbit of a planet, the growth of a
population or the spread of a rumor. The number pi, roughly 3.14159, appears
in problems about circles, waves, probability and even the shape of rivers.

Music moves us in ways that are difficult to explain. A melody that rises
and falls, a rhythm that repeats and then surprises, a chord that resolves
after a long tension: each of these patterns plays with our expectations.
Children in every culture sing, clap and dance before they can read.

The economy of a country depends on what its people make, buy and sell.
When prices rise faster than wages, families feel poorer even if they earn
more money than before. Central banks try to keep inflation low and stable
by raising or lowering interest rates, though their tools act slowly.

On the coast, the tide comes in twice a day, pulled by the moon and the sun.
Rock pools left behind by the water hold crabs, snails, small fish and
bright green seaweed. Birds walk along the wet sand at low tide, searching
for worms, while the waves break and retreat in a steady rhythm.

The printing press made books cheaper and more common than ever before. Ideas
that once traveled slowly, copied by hand, could now reach thousands of
readers within a few months. Scholars argued in print, scientists shared
their results, and ordinary people began to read the news for themselves.

A good experiment is designed so that its result could prove the researcher
wrong. If the prediction fails, the theory must be changed or rejected; if
it succeeds, the theory gains support, but it is never proven beyond all
doubt. This humility is one of the quiet strengths of the scientific method.

The heart is a muscle about the size of a fist. It beats around one hundred
thousand times a day, pumping blood through the lungs, where the blood picks
up oxygen, and then out to the rest of the body. Regular exercise, a varied
diet and enough sleep help to keep the heart strong for many years.

Rome was not built in a day, and neither was its empire. Over several
centuries the city extended its rule across the Mediterranean through war,
trade, roads and law. Latin, the language of the Romans, lives on today in
Italian, Spanish, French, Portuguese and Romanian, and in many English words.

Volcanoes form where melted rock rises from deep inside the planet. Some
erupt with violent explosions that throw ash high into the atmosphere;
others release slow rivers of lava that cool into new land. The islands of
Hawaii and Iceland were both built, layer by layer, by volcanic activity.

The novel opens on a cold morning in a small village by the sea. A young
woman receives a letter from a brother she has not seen for ten years, and
she decides, against the advice of her family, to travel to the city and
find him. What she discovers there changes her understanding of her past.

Computers follow instructions with perfect obedience and no understanding.
A program is a list of such instructions, written by people who must think
of every case the machine could meet. When a program fails, the fault
usually lies in a case that nobody imagined while writing the code.

Bees visit flowers to collect nectar and pollen, and in doing so they carry
pollen from one plant to another. Without this service many fruits, nuts and
vegetables would not grow. A single colony may hold tens of thousands of
workers, all of them daughters of one queen.

Laws are rules that a society agrees to follow, and courts decide what those
rules mean in particular cases. A judge must listen to both sides, weigh the
evidence and explain the reasons for the decision. Over time, these
decisions build a body of law that guides future judges.

Light from the nearest star beyond the sun takes more than four years to
reach us. When we look at distant galaxies we see them as they were millions
or even billions of years ago. The night sky is therefore a kind of history
book, written in light, that astronomers are still learning to read.

Cooking is chemistry that we can eat. Heat changes the proteins in an egg,
turning the clear white solid and opaque; sugar browns and develops new
flavors; bread rises because yeast produces gas inside the dough. A good
cook learns these changes by practice long before learning their names.

The river begins as a thin stream high in the mountains, fed by melting snow.
As it descends, it gathers water from springs and smaller streams, carving a
valley through the rock. By the time it reaches the plain it is wide and
slow, and towns have grown along its banks for thousands of years.

Public health is the work of preventing disease across a whole population.
Clean water, safe food, good housing and vaccination programs have saved
more lives than any single medical treatment. Much of this work is invisible
when it succeeds, because its success is the illness that never happens.

The revolution began with a protest about the price of bread. Within months
the old government had fallen, a new assembly was writing a constitution and
citizens were debating rights that had never been granted before. Yet the
years that followed were violent and uncertain, and many hopes were lost.

Sculptors work with stone, wood, metal and clay, and each material resists
the hand in its own way. Marble can be carved into smooth, almost living
skin, but a single careless blow can crack it. Bronze must be cast in a
mold, which allows the artist to make many copies of the same figure.

Wolves live and hunt in packs, usually led by a breeding pair. They travel
long distances in search of prey and communicate with howls, scent marks and
body language. When wolves returned to some national parks, the numbers of
deer changed, and with them the plants along the rivers.

Energy cannot be created or destroyed, only changed from one form into
another. A power station turns the chemical energy of fuel, the motion of
wind or water, or the light of the sun into electricity. Storing that
energy cheaply and safely is one of the great engineering problems of our
time.

She opened the old notebook and found her grandfather's handwriting, small
and neat, recording the weather every day for forty years. Rain, frost,
the first swallow of spring, the date of the harvest: the notes were simple,
but together they told the story of a changing climate.

Trade connects distant places. Silk, spices, tea and silver once moved along
routes that crossed deserts and oceans, and with the goods traveled stories,
religions, inventions and diseases. Today container ships carry most of the
world's goods, and a single ship can hold many thousands of boxes.

The brain contains billions of neurons, each connected to thousands of
others. Memories are not stored in one place but in patterns of connection
that strengthen when they are used. Sleep seems to play an important role in
deciding which of the day's experiences are kept and which are forgotten.

Architecture shapes the way we live. A well designed building lets in light,
keeps out noise, and makes it easy for people to meet or to be alone. The
great cathedrals took generations to complete, and the workers who laid the
foundations rarely lived to see the finished towers.

Children learn their first language without lessons. By listening to the
people around them they discover which sounds matter, how words are formed
and how sentences are built. Learning a second language later in life is
possible, but it usually requires much more deliberate effort.

Weather is what happens in the atmosphere today; climate is the pattern of
weather over many years. Scientists measure temperature, rainfall, wind and
the chemistry of the air and the oceans, and they use models to understand
how the climate has changed in the past and how it may change in the future.

The election was close, and the counting went on through the night. In the
morning both candidates spoke to their supporters, one to celebrate and the
other to accept the result. The peaceful transfer of power, repeated over
and over, is what allows a democracy to survive its disagreements.

Nurses are often the first to notice when a patient's condition changes.
They measure temperature and blood pressure, give medicines, clean wounds and
explain treatments to worried families. Their careful observation and
steady presence are as important to recovery as any surgery.

Mountains rise where the plates of the Earth's crust collide, pushing rock
upward over millions of years. Wind, rain and ice then wear them down again.
The highest peaks are young in geological terms; older ranges have been
worn into rounded hills that are easy to walk across.

Photography gave ordinary people a way to keep images of their families and
their travels. The first cameras needed long exposures, so subjects had to
sit very still; today a phone can take a sharp picture in a fraction of a
second and share it with friends across the world.

Statistics helps us reason about uncertainty. From a small, carefully chosen
sample we can estimate the opinions of a whole country, and we can say how
confident we are in that estimate. Without such methods, it would be hard to
tell a real effect from a lucky coincidence.

The library was quiet except for the sound of turning pages. Students bent
over their books, an old man read the newspaper by the window, and a child
sat on the floor surrounded by picture books about dinosaurs, ships and
faraway countries. Knowledge, freely shared, is a public treasure.

Whales are mammals that returned to the sea long ago. They breathe air, give
birth to live young and feed them with milk. Some of them sing long songs
that change from year to year, and the songs can travel hundreds of miles
through the deep water of the ocean.

Philosophers ask questions that seem simple but are not. What is justice?
What can we know for certain? How should we live? Their answers differ, but
the habit of asking, of testing arguments and of changing one's mind when
the reasons are good, is valuable in every field of study.

The bridge was finished in 1932 after six years of work. Engineers had to
consider the weight of the traffic, the force of the wind, the movement of
the ground and the expansion of steel in the summer heat. It still carries
thousands of cars every day, nearly a century after it was opened.

Gardens change with the seasons. In spring the first bulbs push through the
cold soil; in summer the roses bloom and the vegetables ripen; in autumn the
leaves turn red and gold; and in winter the bare branches reveal the shape
of every tree. A gardener learns patience from this slow, certain cycle.
)corpus";

}  // namespace

absl::string_view ModelMakerCorpus() { return kCorpus; }

}  // namespace fnprobe
