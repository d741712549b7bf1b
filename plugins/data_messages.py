"""Dataset ``messages`` (kind ``texts``): generated short text messages, ham or spam.

Messages are assembled from phrase templates with slots (names, times, places, prices, phone
numbers, short codes), then roughened as real messages are: abbreviations ("u", "2nite"),
dropped or doubled letters, random case, stray punctuation. About ``spam_fraction`` of them are
spam (an SMS corpus holds ~13%). The two classes share much of their vocabulary (spam says
"call", "free", "txt" but so do friends), so a bag of words alone is not enough to be perfect:
it is a stand-in for a real corpus that needs no download. Seeded: the same options give the
same messages.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import harness
import harness.data
from harness_plugins._splits import stratified_split

OPTIONS = {
    "count": harness.Option(int, 1500, "messages in all"),
    "spam_fraction": harness.Option(float, 0.13, "share of spam"),
    "noise": harness.Option(float, 0.15, "chance that a word is abbreviated or misspelt"),
    "seed": harness.Option(int, 0, "generator seed"),
}

NAMES = ["Tom", "Ana", "mum", "dad", "Raj", "Lucy", "Ben", "Mei", "Sam", "Jo", "babe", "bro"]
PLACES = ["the pub", "uni", "work", "the station", "home", "the gym", "town", "Tesco", "class"]
TIMES = ["7", "8pm", "half 6", "tonight", "tmrw", "later", "noon", "after work", "10ish"]
HAM = [
    "hey {name} are we still on for {time}?", "ok see u at {place} {time}",
    "can you call me when u get {place}", "sorry i missed your call, in a meeting til {time}",
    "lol that was so funny", "did you get the tickets for saturday?",
    "{name} says hi. how was {place}?", "running late, be there by {time}",
    "dont forget to buy milk on the way {place}", "i'll text u when im free",
    "happy birthday {name}!! have a great day", "thanks for yesterday, really needed that",
    "where r u? im at {place}", "call me back pls its about {name}",
    "free tonight? fancy a film at {time}", "got your message, will reply later",
    "the bus is stuck again, prob {time}", "love you, sleep well", "ha ok. txt me later",
    "have you seen my keys? think i left them at {place}", "win or lose we go to {place} after",
    "my phone is nearly dead, meet at {place} {time}", "just won the pub quiz with {name} lol",
    "ur mum called, ring her back", "can i borrow ur notes from {place}",
    "did u win anything at {place}? call me", "txt me the code for the wifi at {place}",
    "i won £20 on the scratch card lol, drinks on me {time}", "free food at {place} {time}!!",
    "claim ur seat at {place} before {time}, its filling up", "ok", "k", "lol", "on my way",
    "reply when u can, need the {prize} number", "call {name} urgent, she lost her phone",
]
SPAM = [
    "WINNER!! you have been selected to receive a £{price} prize. call {phone} now",
    "FREE entry in 2 a weekly comp to win {prize}. txt WIN to {code} to claim",
    "urgent! your mobile number has won £{price}. claim by calling {phone}",
    "congratulations ur awarded a {prize}. text CLAIM to {code}. T&Cs apply",
    "you have 1 new voicemail. please call {phone} to listen. {price}p/min",
    "free msg: your account is due a refund of £{price}. reply YES to {code}",
    "get the latest ringtones FREE! txt TONE to {code} now. stop to end",
    "private! your {time} statement shows {price} unclaimed points. call {phone}",
    "as a valued customer you are eligible for a free {prize}. call {phone}",
    "last chance! claim your £{price} cash or a {prize} today. txt GO to {code}",
    "hot singles in your area want to meet u. txt DATE to {code} £{price}/msg",
    "you won a guaranteed £{price} award! to claim call {phone} before {time}",
    "hey {name}, you have been chosen for a free {prize}! reply CALL to {code}",
    "call me back, you won the {prize} draw. claim code {code}. {phone}",
    "hi its {name} from {place}, we tried to reach u about ur {prize}. ring {phone}",
    "ur free {time} offer ends soon. reply STOP to {code} to opt out",
    "sorry i missed u! i have a surprise 4 u, call {phone}",
]
PRIZES = ["holiday to Spain", "£1000 voucher", "new mobile", "camcorder", "iPhone", "cruise"]
SHORT = {"you": "u", "are": "r", "tonight": "2nite", "to": "2", "for": "4", "please": "pls",
         "later": "l8r", "great": "gr8", "your": "ur", "tomorrow": "tmrw", "text": "txt"}


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        name=rng.choice(NAMES), place=rng.choice(PLACES), time=rng.choice(TIMES),
        price=rng.choice(["100", "250", "500", "1000", "2000", "150"]),
        prize=rng.choice(PRIZES), code=str(rng.randint(10000, 89999)),
        phone="0" + "".join(str(rng.randint(0, 9)) for _ in range(10)))


def _roughen(text: str, noise: float, rng: random.Random) -> str:
    words = []
    for word in text.split():
        roll = rng.random()
        if roll < noise / 2:
            word = SHORT.get(word.lower(), word)
        elif roll < noise and len(word) > 3:
            cut = rng.randrange(1, len(word) - 1)
            word = word[:cut] + (word[cut] * 2 if rng.random() < 0.5 else "") + word[cut + 1:]
        words.append(word)
    text = " ".join(words)
    if rng.random() < 0.15:
        text = text.upper() if rng.random() < 0.3 else text.capitalize()
    if rng.random() < 0.2:
        text += rng.choice([" :)", "!!", " x", "...", " ;-)"])
    return text


def message(spam: bool, noise: float, rng: random.Random) -> str:
    """One generated message; sometimes two sentences, as real messages often are."""
    templates = SPAM if spam else HAM
    text = _fill(rng.choice(templates), rng)
    if rng.random() < 0.3:
        text += " " + _fill(rng.choice(HAM if rng.random() < 0.7 else templates), rng)
    return _roughen(text, noise, rng)


def _distinct(spam: list[bool], noise: float, rng: random.Random) -> list[str]:
    """One message per label, none repeated: the splits are disjoint by content (a real
    corpus's duplicates are what ``[dataset] dedup`` is for)."""
    seen: set[str] = set()
    texts = []
    for is_spam in spam:
        text = message(is_spam, noise, rng)
        for _ in range(50):
            if text not in seen:
                break
            text = message(is_spam, noise, rng)
        seen.add(text)
        texts.append(text)
    return texts


def load_messages(options: Mapping[str, Any]) -> harness.data.TextData:
    count, fraction = int(options["count"]), float(options["spam_fraction"])
    if count < 20 or not 0.0 < fraction < 1.0:
        raise harness.DataError("messages: count must be at least 20 and spam_fraction "
                                "between 0 and 1")
    rng = random.Random(options["seed"])
    labels = [1 if i < max(2, round(count * fraction)) else 0 for i in range(count)]
    rng.shuffle(labels)
    texts = _distinct([bool(label) for label in labels], float(options["noise"]), rng)
    train, val, test = stratified_split(labels, 0.15, 0.15, int(options["seed"]))

    def subset(picks: list[int]) -> harness.data.TextSet:
        return harness.data.TextSet(tuple(texts[i] for i in picks),
                                    tuple(labels[i] for i in picks))

    return harness.data.TextData(subset(train), subset(val), subset(test), ("ham", "spam"))


@harness.hookimpl
def register_datasets(register: harness.RegisterDataset) -> None:
    register(harness.DatasetSpec(
        name="messages", data_kind=harness.data.TEXTS, load=load_messages, options=OPTIONS,
        description="generated text messages, ham or spam (~13% spam)",
        test_options={"count": 80}))
