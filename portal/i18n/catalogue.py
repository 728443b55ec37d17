"""Every sentence a customer reads, in English and Swahili, under one key.

A text is filled in with `str.format` from the values its caller names (`{phone}`, `{count}`). A text
that counts things is a pair (one, many), picked by its `count`: English says "1 digit" but "2 digits";
Swahili needs no pair ("tarakimu 1", "tarakimu 2").

Keys with a dot belong to one module each: `result.` ones are named by mpesa/result_codes.py and `phone.`
ones by phones.py (lower layers: they name texts, never render them); `unit.`, `duration.` and `speed.`
ones are formats.py's. The keys without a dot are the splash pages' own.
"""

Text = str | tuple[str, str]

ENGLISH: dict[str, Text] = {
    # -- the splash pages ------------------------------------------------------------------------------
    "choose_package": "Choose a package",
    "phone_label": "M-Pesa phone number",
    "phone_hint": "Safaricom M-Pesa numbers only. The phone that gets the prompt, e.g. 0712 345 678",
    "pay": "Pay with M-Pesa",
    "sending": "Sending the M-Pesa prompt…",
    "have_code": "Already paid, or have a voucher?",
    "have_code_link": "Enter your code",
    "help": "Help",
    "other_language": "Kiswahili",
    "not_a_customer_title": "Connect to the Wi-Fi first",
    "not_a_customer": "This page opens by itself when you join the hotspot's Wi-Fi network.",
    "no_packages": "No packages are on sale right now. Please ask the staff.",
    "no_account": "Payments are not set up on this hotspot yet. Please ask the staff.",
    "pick_package": "Choose a package first.",
    "check_phone": "Check your phone",
    "enter_pin": ("Enter your M-Pesa PIN on {phone} to pay KES {amount} to {name}, account {account}."),
    "prompt_expires": "The prompt expires in",
    "waiting_no_js": "This page refreshes by itself.",
    "cancel": "Cancel",
    "resend": "Send the prompt again",
    "try_again": "Try again",
    "other_number": "Use another number",
    "other_package": "Choose another package",
    "connecting": "Paid. Connecting you…",
    "connecting_detail": "Your payment is received ({receipt}). We are logging your device in.",
    "connecting_detail_no_receipt": "Your payment is received. We are logging your device in.",
    "stuck": "Paid, but not connected yet",
    "stuck_detail": (
        "Your payment is received (receipt {receipt}). Your time starts only once you are connected, so"
        " none of it is lost."
    ),
    "stuck_how": (
        "Check that this phone is on the hotspot's Wi-Fi: turn Wi-Fi off and on and join it again; this page"
        " keeps trying and says when you are online. On another device, tap “Enter your code” and type your"
        " access code."
    ),
    "stuck_help": "Still not connected? Call the hotspot:",
    "online": "You're online",
    "time_left": "Time left",
    "data_left": "Data left",
    "expires_at": "Until",
    "access_code": "Your access code",
    "access_code_hint": "Keep it: it reconnects you on another device, or if your phone changes.",
    "continue": "Continue browsing",
    "codes_move_time": (
        "Changed phone? On the other device, enter your access code, voucher, or the receipt code from"
        " your M-Pesa SMS: your time moves there."
    ),
    "buy_more": "Buy more time",
    "welcome_back": "Welcome back",
    "my_time": "My time",
    "my_time_hint": "Check your time left any time at",
    "show_code": "Show my access code",
    "time_ending": "Your time is almost over. Buy more now to stay online.",
    "no_time_title": "Your time is shown on the phone that paid",
    "no_time": (
        "Open this page on the phone you paid with, in the browser that showed “You're online”. On another"
        " device, join the hotspot's Wi-Fi: its page opens by itself."
    ),
    "enter_code": "Enter your code",
    "code_label": "Access code, M-Pesa receipt or voucher",
    "code_hint": "e.g. K7PM-Q2XR, or the receipt code in your M-Pesa SMS, e.g. TJ3MX6CLYC",
    "use_code": "Connect",
    "pay_by_hand": (
        "Or pay by M-Pesa yourself: {how}. Prices: {prices}. Anything paid beyond a package stays as your"
        " credit. Then enter the receipt code from the SMS."
    ),
    "price_for": "{price} for {package}",
    "paybill_how": "Lipa na M-Pesa, Pay Bill {shortcode}, account {account}",
    "till_how": "Lipa na M-Pesa, Buy Goods, till {till}",
    "too_many": "Too many wrong tries from this device. Try again in {wait}, or ask the staff.",
    "not_this_device": (
        "This page was opened for another device. Open the Wi-Fi's sign-in page again on this phone."
    ),
    "too_many_pushes": (
        "Many M-Pesa prompts were left unpaid this hour. A new one can be sent in {count} minute;"
        " meanwhile you can use a code.",
        "Many M-Pesa prompts were left unpaid this hour. A new one can be sent in {count} minutes;"
        " meanwhile you can use a code.",
    ),
    "phone_busy": (
        "Another M-Pesa request for this phone is still open. If it shows on your phone and is not yours,"
        " cancel it there, then tap Pay again. Or pay with another number."
    ),
    "cannot_pay": "Payments can't be taken right now. Please ask the staff.",
    "resend_wait": "The last prompt is still open on your phone. A new one can be sent when it ends.",
    "waiting_answer": "Waiting for M-Pesa's answer…",
    "device_waiting": "A payment from this device is waiting",
    "payment_running": (
        "A payment from this device is waiting: enter your M-Pesa PIN on the phone that got the prompt."
        " Paying again here sends another prompt."
    ),
    "device_waiting_detail": (
        "Enter your M-Pesa PIN on the phone that got the prompt. This page updates by itself: once the"
        " payment is in, you are online."
    ),
    "failed": "Payment not completed",
    "time_over": "Your time is over",
    "time_over_detail": "The time you bought has ended. Buy more to go on.",
    "moved": "Your time is on another device",
    "moved_detail": (
        "It was moved there with one of your codes. To go online here, buy a package or enter a code."
    ),
    "moved_away": (
        "The time bought on this device is on another device now: it was moved there with one of your"
        " codes. To go online here, buy a package or enter a code."
    ),
    "refunded": "Payment refunded",
    "refunded_detail": "The hotspot gave this payment back to you. Buy a package to go online.",
    # -- a payment whose outcome is unknown: the receipt its payer types (billing/receipt_checks.py) ----
    "payment_unknown": "We could not hear from M-Pesa",
    "payment_unknown_detail": (
        "We could not hear from M-Pesa whether you paid. If money left your account, type the receipt"
        " code from the M-Pesa SMS. If no money left, you can pay again."
    ),
    "receipt_label": "Receipt code from the M-Pesa SMS",
    "receipt_send": "Send the receipt code",
    "receipt_format": "That is not an M-Pesa receipt code: it has 10 letters and digits, like TJ3MX6CLYC.",
    "receipt_checking": (
        "We are checking receipt {receipt} with M-Pesa. This page updates by itself: once it is"
        " confirmed, you are online."
    ),
    "receipt_with_attendant": (
        "We have your receipt {receipt}. The attendant will check it on M-Pesa; this page updates by"
        " itself, and you are online once it is confirmed."
    ),
    "receipt_not_confirmed": (
        "M-Pesa did not confirm receipt {receipt} for this payment. Check the code in the SMS and type it"
        " again, or show the SMS to the attendant."
    ),
    "receipt_being_checked": (
        "That is the receipt of a payment we could not confirm. We are checking it: once it is confirmed,"
        " this device goes online. You can also show the M-Pesa SMS to the attendant."
    ),
    "payment_unknown_here": (
        "We could not confirm a payment from this device. If money left your account, tap “Enter your"
        " code” and type the receipt code from the M-Pesa SMS."
    ),
    # -- why a typed code gives no time (claims.py's reasons) ------------------------------------------
    "code_empty": "Enter the code.",
    "code_unknown": "That code is not right. Check it and try again.",
    "code_used_up": "That code has been used up, or its time is over.",
    "device_has_time": "This device already has time of its own.",
    # -- money paid by hand: what is not for Wi-Fi, and the credit a receipt keeps (billing/c2b.py) ----
    "amount_too_small": (
        "KES {credit} from your M-Pesa payment is kept for you as credit. The cheapest package costs"
        " KES {price}: pay KES {more} more by M-Pesa, then enter all your receipt codes together,"
        " separated by spaces."
    ),
    "not_for_wifi": (
        "That M-Pesa payment is not for Wi-Fi: it was paid to another account than {account}, so it buys"
        " no Wi-Fi time. To pay for Wi-Fi, use the account {account}."
    ),
    "credit_left": (
        "KES {credit} of your M-Pesa payment is left as credit. To use it, enter the same receipt code"
        " once this time is over, or together with a new receipt code to buy more."
    ),
    # -- what a Daraja ResultCode means for the payer (mpesa/result_codes.py) --------------------------
    "result.paid": "Payment received. Connecting you now.",
    "result.pending": "Enter your M-Pesa PIN on your phone to pay.",
    "result.no_funds": "Your M-Pesa balance is not enough for this package. Top up and try again.",
    "result.daily_limit": "This payment would pass your daily M-Pesa limit.",
    "result.same_payment_twice": (
        "M-Pesa refuses the same payment twice within two minutes. Wait two minutes and try again."
    ),
    "result.mpesa_busy": "M-Pesa is busy. No money was taken. Try again in a minute.",
    "result.prompt_expired": "The M-Pesa request expired before it was answered. Try again.",
    "result.wrong_pin": "The M-Pesa PIN entered was wrong. No money was taken. Try again.",
    "result.pin_locked": "Your M-Pesa PIN is locked. Call 100 to unlock it, then try again.",
    "result.bad_debt": "M-Pesa declined payments from this number. Try another M-Pesa number.",
    "result.bad_number": (
        "M-Pesa does not take payments from this phone number. No money was taken. Pay with another"
        " M-Pesa number."
    ),
    "result.not_paid": (
        "The hotspot found no payment from you on M-Pesa. If money left your account, show the M-Pesa SMS"
        " to the attendant."
    ),
    "result.mpesa_unreachable": "We could not reach M-Pesa. No money was taken. Try again in a minute.",
    "result.no_final_answer": (
        "No answer came from M-Pesa in time. If money left your account, show the M-Pesa message"
        " to the attendant."
    ),
    "result.try_again": "M-Pesa could not process this payment. No money was taken. Try again in a moment.",
    "result.setup": (
        "This hotspot can't take M-Pesa payments right now. No money was taken. Please tell the attendant."
    ),
    "result.cancelled": "You cancelled the M-Pesa request. No money was taken.",
    "result.cancelled_here": (
        "Payment cancelled. The M-Pesa prompt may still show on your phone for up to a minute: press"
        " Cancel on it. If you pay it all the same, you go online with it."
    ),
    "result.phone_no_answer": (
        "Your phone did not answer the M-Pesa request in time. Check that it is on and try again."
    ),
    "result.prompt_open": (
        "Another M-Pesa request is open on your phone. Finish or cancel it, then try again in a minute."
    ),
    # -- what is wrong with a typed phone number (phones.py) -------------------------------------------
    "phone.empty": "Enter your M-Pesa phone number.",
    "phone.not_digits": "A phone number has only digits, like 0712 345 678.",
    "phone.not_kenyan": "Use a Kenyan M-Pesa number, like +254 712 345 678 or 0712 345 678.",
    "phone.too_short": (
        "That number is {count} digit short: a Kenyan mobile number is like 0712 345 678.",
        "That number is {count} digits short: a Kenyan mobile number is like 0712 345 678.",
    ),
    "phone.too_long": (
        "That number has {count} digit too many: a Kenyan mobile number is like 0712 345 678.",
        "That number has {count} digits too many: a Kenyan mobile number is like 0712 345 678.",
    ),
    "phone.bad_prefix": (
        "That is not a Safaricom number: the M-Pesa prompt reaches Safaricom numbers only, like"
        " 0712 345 678 or 0112 345 678."
    ),
    "phone.other_network": (
        "{network} numbers can't get the M-Pesa prompt: it reaches Safaricom numbers only. Use a"
        " Safaricom M-Pesa number, like 0712 345 678."
    ),
    "phone.not_a_number": (
        "That is not a phone number: a Kenyan mobile number has 10 digits, like 0712 345 678."
    ),
    # -- durations and speeds (formats.py) -------------------------------------------------------------
    "unit.day": ("{count} day", "{count} days"),
    "unit.hour": ("{count} hour", "{count} hours"),
    "unit.minute": ("{count} minute", "{count} minutes"),
    "duration.under_a_minute": "less than a minute",
    "speed.up_to": "up to {speed}",
}

SWAHILI: dict[str, Text] = {
    # -- the splash pages ------------------------------------------------------------------------------
    "choose_package": "Chagua kifurushi",
    "phone_label": "Nambari ya simu ya M-Pesa",
    "phone_hint": "Nambari za M-Pesa za Safaricom pekee. Simu itakayopokea ombi, k.m. 0712 345 678",
    "pay": "Lipa kwa M-Pesa",
    "sending": "Tunatuma ombi la M-Pesa…",
    "have_code": "Umeshalipa, au una vocha?",
    "have_code_link": "Weka msimbo",
    "help": "Msaada",
    "other_language": "English",
    "not_a_customer_title": "Unganisha kwenye Wi-Fi kwanza",
    "not_a_customer": "Ukurasa huu hufunguka wenyewe unapojiunga na mtandao wa Wi-Fi wa hotspot.",
    "no_packages": "Hakuna vifurushi vinavyouzwa sasa hivi. Tafadhali uliza wahudumu.",
    "no_account": "Malipo bado hayajawekwa kwenye hotspot hii. Tafadhali uliza wahudumu.",
    "pick_package": "Chagua kifurushi kwanza.",
    "check_phone": "Angalia simu yako",
    "enter_pin": (
        "Weka PIN yako ya M-Pesa kwenye {phone} kulipa KES {amount} kwa {name}, akaunti {account}."
    ),
    "prompt_expires": "Ombi linaisha baada ya",
    "waiting_no_js": "Ukurasa huu unajisasisha wenyewe.",
    "cancel": "Ghairi",
    "resend": "Tuma ombi tena",
    "try_again": "Jaribu tena",
    "other_number": "Tumia nambari nyingine",
    "other_package": "Chagua kifurushi kingine",
    "connecting": "Umelipa. Tunakuunganisha…",
    "connecting_detail": "Malipo yako yamepokelewa ({receipt}). Tunaingiza kifaa chako.",
    "connecting_detail_no_receipt": "Malipo yako yamepokelewa. Tunaingiza kifaa chako.",
    "stuck": "Umelipa, lakini bado hujaunganishwa",
    "stuck_detail": (
        "Malipo yako yamepokelewa (risiti {receipt}). Muda wako unaanza tu ukiunganishwa, kwa hiyo hakuna"
        " unaopotea."
    ),
    "stuck_how": (
        "Hakikisha simu hii iko kwenye Wi-Fi ya hotspot: zima Wi-Fi, uiwashe na ujiunge tena; ukurasa huu"
        " unaendelea kujaribu na utakuambia ukiwa mtandaoni. Kwenye kifaa kingine, gusa “Weka msimbo”"
        " na uandike msimbo wako wa kuingia."
    ),
    "stuck_help": "Bado hujaunganishwa? Piga simu kwa hotspot:",
    "online": "Uko mtandaoni",
    "time_left": "Muda uliobaki",
    "data_left": "Data iliyobaki",
    "expires_at": "Hadi",
    "access_code": "Msimbo wako wa kuingia",
    "access_code_hint": "Utunze: unakuunganisha tena kwenye kifaa kingine, au simu yako ikibadilika.",
    "continue": "Endelea kuvinjari",
    "codes_move_time": (
        "Umebadilisha simu? Kwenye kifaa kingine, weka msimbo wako wa kuingia, vocha, au msimbo wa"
        " risiti kutoka kwenye SMS yako ya M-Pesa: muda wako utahamia huko."
    ),
    "buy_more": "Nunua muda zaidi",
    "welcome_back": "Karibu tena",
    "my_time": "Muda wangu",
    "my_time_hint": "Angalia muda uliobaki wakati wowote kwenye",
    "show_code": "Onyesha msimbo wangu wa kuingia",
    "time_ending": "Muda wako unakaribia kwisha. Nunua zaidi sasa ili uendelee kuunganishwa.",
    "no_time_title": "Muda wako unaonyeshwa kwenye simu iliyolipa",
    "no_time": (
        "Fungua ukurasa huu kwenye simu uliyolipia, kwenye kivinjari kilichoonyesha “Uko mtandaoni”."
        " Kwenye kifaa kingine, jiunge na Wi-Fi ya hotspot: ukurasa wake hufunguka wenyewe."
    ),
    "enter_code": "Weka msimbo",
    "code_label": "Msimbo wa kuingia, risiti ya M-Pesa au vocha",
    "code_hint": "k.m. K7PM-Q2XR, au nambari ya risiti kwenye SMS ya M-Pesa, k.m. TJ3MX6CLYC",
    "use_code": "Unganisha",
    "pay_by_hand": (
        "Au lipa kwa M-Pesa mwenyewe: {how}. Bei: {prices}. Pesa yoyote inayozidi kifurushi inabaki kama"
        " salio lako. Kisha weka nambari ya risiti kutoka kwenye SMS."
    ),
    "price_for": "{price} kwa {package}",
    "paybill_how": "Lipa na M-Pesa, Pay Bill {shortcode}, akaunti {account}",
    "till_how": "Lipa na M-Pesa, Buy Goods, till {till}",
    "too_many": (
        "Majaribio mengi yasiyo sahihi kutoka kifaa hiki. Jaribu tena baada ya {wait}, au uliza wahudumu."
    ),
    "not_this_device": (
        "Ukurasa huu ulifunguliwa kwa kifaa kingine. Fungua tena ukurasa wa kuingia wa Wi-Fi kwenye simu hii."
    ),
    "too_many_pushes": (
        "Maombi mengi ya M-Pesa hayakulipwa saa hii. Jipya linaweza kutumwa baada ya dakika {count};"
        " kwa sasa unaweza kutumia msimbo."
    ),
    "phone_busy": (
        "Kuna ombi lingine la M-Pesa kwa simu hii ambalo bado liko wazi. Likionekana kwenye simu yako na si"
        " lako, ulighairi huko, kisha ubonyeze Lipa tena. Au lipa kwa nambari nyingine."
    ),
    "cannot_pay": "Malipo hayawezi kupokelewa sasa hivi. Tafadhali uliza wahudumu.",
    "resend_wait": "Ombi la mwisho bado liko wazi kwenye simu yako. Jipya linaweza kutumwa likiisha.",
    "waiting_answer": "Tunasubiri jibu la M-Pesa…",
    "device_waiting": "Malipo kutoka kifaa hiki yanasubiri",
    "payment_running": (
        "Malipo kutoka kifaa hiki yanasubiri: weka PIN yako ya M-Pesa kwenye simu iliyopata ombi. Ukilipa"
        " tena hapa, ombi lingine litatumwa."
    ),
    "device_waiting_detail": (
        "Weka PIN yako ya M-Pesa kwenye simu iliyopata ombi. Ukurasa huu unajisasisha wenyewe: malipo"
        " yakifika, utaunganishwa."
    ),
    "failed": "Malipo hayakukamilika",
    "time_over": "Muda wako umekwisha",
    "time_over_detail": "Muda ulionunua umekwisha. Nunua zaidi ili uendelee.",
    "moved": "Muda wako uko kwenye kifaa kingine",
    "moved_detail": (
        "Ulihamishwa huko kwa mojawapo ya misimbo yako. Ili uunganishwe hapa, nunua kifurushi au weka msimbo."
    ),
    "moved_away": (
        "Muda ulionunuliwa kwenye kifaa hiki sasa uko kwenye kifaa kingine: ulihamishwa huko kwa mojawapo"
        " ya misimbo yako. Ili uunganishwe hapa, nunua kifurushi au weka msimbo."
    ),
    "refunded": "Malipo yamerudishwa",
    "refunded_detail": "Hotspot imekurudishia malipo haya. Nunua kifurushi ili uunganishwe.",
    # -- a payment whose outcome is unknown: the receipt its payer types (billing/receipt_checks.py) ----
    "payment_unknown": "Hatukupata jibu la M-Pesa",
    "payment_unknown_detail": (
        "Hatukuweza kujua kutoka M-Pesa kama umelipa. Kama pesa zilitoka kwenye akaunti yako, andika"
        " nambari ya risiti kutoka kwenye SMS ya M-Pesa. Kama hakuna pesa iliyotoka, unaweza kulipa tena."
    ),
    "receipt_label": "Nambari ya risiti kutoka kwenye SMS ya M-Pesa",
    "receipt_send": "Tuma nambari ya risiti",
    "receipt_format": "Hiyo si nambari ya risiti ya M-Pesa: ina herufi na tarakimu 10, kama TJ3MX6CLYC.",
    "receipt_checking": (
        "Tunahakiki risiti {receipt} na M-Pesa. Ukurasa huu unajisasisha wenyewe: ikithibitishwa,"
        " utaunganishwa."
    ),
    "receipt_with_attendant": (
        "Tumepokea risiti yako {receipt}. Mhudumu ataihakiki kwenye M-Pesa; ukurasa huu unajisasisha"
        " wenyewe, na utaunganishwa ikithibitishwa."
    ),
    "receipt_not_confirmed": (
        "M-Pesa haikuthibitisha risiti {receipt} kwa malipo haya. Angalia nambari kwenye SMS uiandike"
        " tena, au mwonyeshe mhudumu SMS hiyo."
    ),
    "receipt_being_checked": (
        "Hiyo ni risiti ya malipo ambayo hatukuweza kuthibitisha. Tunaihakiki: ikithibitishwa, kifaa hiki"
        " kitaunganishwa. Unaweza pia kumwonyesha mhudumu SMS ya M-Pesa."
    ),
    "payment_unknown_here": (
        "Hatukuweza kuthibitisha malipo kutoka kifaa hiki. Kama pesa zilitoka kwenye akaunti yako, gusa"
        " “Weka msimbo” na uandike nambari ya risiti kutoka kwenye SMS ya M-Pesa."
    ),
    # -- why a typed code gives no time (claims.py's reasons) ------------------------------------------
    "code_empty": "Weka msimbo.",
    "code_unknown": "Msimbo huo si sahihi. Uangalie ujaribu tena.",
    "code_used_up": "Msimbo huo umeshatumika, au muda wake umekwisha.",
    "device_has_time": "Kifaa hiki tayari kina muda wake.",
    # -- money paid by hand: what is not for Wi-Fi, and the credit a receipt keeps (billing/c2b.py) ----
    "amount_too_small": (
        "KES {credit} kutoka kwenye malipo yako ya M-Pesa zimehifadhiwa kama salio lako. Kifurushi cha bei"
        " nafuu zaidi ni KES {price}: lipa KES {more} zaidi kwa M-Pesa, kisha weka nambari zako zote za"
        " risiti pamoja, zikitenganishwa kwa nafasi."
    ),
    "not_for_wifi": (
        "Malipo hayo ya M-Pesa si ya Wi-Fi: yalilipwa kwa akaunti nyingine, si {account}, kwa hiyo"
        " hayanunui muda wa Wi-Fi. Kulipia Wi-Fi, tumia akaunti {account}."
    ),
    "credit_left": (
        "KES {credit} za malipo yako ya M-Pesa zimebaki kama salio. Ili uzitumie, weka nambari ile ile ya"
        " risiti muda huu ukiisha, au pamoja na nambari mpya ya risiti ili ununue zaidi."
    ),
    # -- what a Daraja ResultCode means for the payer (mpesa/result_codes.py) --------------------------
    "result.paid": "Malipo yamepokelewa. Tunakuunganisha sasa.",
    "result.pending": "Weka PIN yako ya M-Pesa kwenye simu yako ili kulipa.",
    "result.no_funds": "Salio lako la M-Pesa halitoshi kwa kifurushi hiki. Ongeza salio kisha ujaribu tena.",
    "result.daily_limit": "Malipo haya yangezidi kikomo chako cha kila siku cha M-Pesa.",
    "result.same_payment_twice": (
        "M-Pesa haikubali malipo yale yale mara mbili ndani ya dakika mbili. Subiri dakika mbili kisha"
        " ujaribu tena."
    ),
    "result.mpesa_busy": (
        "M-Pesa ina shughuli nyingi. Hakuna pesa iliyotolewa. Jaribu tena baada ya dakika moja."
    ),
    "result.prompt_expired": "Ombi la M-Pesa liliisha muda kabla ya kujibiwa. Jaribu tena.",
    "result.wrong_pin": "PIN ya M-Pesa uliyoweka si sahihi. Hakuna pesa iliyotolewa. Jaribu tena.",
    "result.pin_locked": "PIN yako ya M-Pesa imefungwa. Piga 100 ili kuifungua, kisha ujaribu tena.",
    "result.bad_debt": "M-Pesa imekataa malipo kutoka nambari hii. Jaribu nambari nyingine ya M-Pesa.",
    "result.bad_number": (
        "M-Pesa haipokei malipo kutoka nambari hii ya simu. Hakuna pesa iliyotolewa. Lipa kwa nambari"
        " nyingine ya M-Pesa."
    ),
    "result.not_paid": (
        "Hotspot haikupata malipo yako kwenye M-Pesa. Kama pesa zilitoka kwenye akaunti yako, mwonyeshe"
        " mhudumu SMS ya M-Pesa."
    ),
    "result.mpesa_unreachable": (
        "Hatukuweza kufikia M-Pesa. Hakuna pesa iliyotolewa. Jaribu tena baada ya dakika moja."
    ),
    "result.no_final_answer": (
        "Jibu la M-Pesa halikufika kwa wakati. Kama pesa zilitoka kwenye akaunti yako, mwonyeshe mhudumu"
        " ujumbe wa M-Pesa."
    ),
    "result.try_again": (
        "M-Pesa haikuweza kushughulikia malipo haya. Hakuna pesa iliyotolewa. Jaribu tena baadaye kidogo."
    ),
    "result.setup": (
        "Hotspot hii haiwezi kupokea malipo ya M-Pesa kwa sasa. Hakuna pesa iliyotolewa. Tafadhali"
        " mjulishe mhudumu."
    ),
    "result.cancelled": "Ulighairi ombi la M-Pesa. Hakuna pesa iliyotolewa.",
    "result.cancelled_here": (
        "Malipo yameghairiwa. Ombi la M-Pesa linaweza bado kuonekana kwenye simu yako kwa hadi dakika"
        " moja: bonyeza Ghairi. Ukililipa hata hivyo, utaunganishwa nalo."
    ),
    "result.phone_no_answer": (
        "Simu yako haikujibu ombi la M-Pesa kwa wakati. Hakikisha iko wazi kisha ujaribu tena."
    ),
    "result.prompt_open": (
        "Kuna ombi lingine la M-Pesa kwenye simu yako. Likamilishe au ulighairi, kisha ujaribu tena baada"
        " ya dakika moja."
    ),
    # -- what is wrong with a typed phone number (phones.py) -------------------------------------------
    "phone.empty": "Weka nambari yako ya simu ya M-Pesa.",
    "phone.not_digits": "Nambari ya simu ina tarakimu pekee, kama 0712 345 678.",
    "phone.not_kenyan": "Tumia nambari ya M-Pesa ya Kenya, kama +254 712 345 678 au 0712 345 678.",
    "phone.too_short": (
        "Nambari hiyo inakosa tarakimu {count}: nambari ya simu ya Kenya ni kama 0712 345 678."
    ),
    "phone.too_long": (
        "Nambari hiyo ina tarakimu {count} za ziada: nambari ya simu ya Kenya ni kama 0712 345 678."
    ),
    "phone.bad_prefix": (
        "Hiyo si nambari ya Safaricom: ombi la M-Pesa linafika kwa nambari za Safaricom pekee, kama"
        " 0712 345 678 au 0112 345 678."
    ),
    "phone.other_network": (
        "Nambari za {network} haziwezi kupata ombi la M-Pesa: linafika kwa nambari za Safaricom pekee."
        " Tumia nambari ya M-Pesa ya Safaricom, kama 0712 345 678."
    ),
    "phone.not_a_number": (
        "Hiyo si nambari ya simu: nambari ya simu ya Kenya ina tarakimu 10, kama 0712 345 678."
    ),
    # -- durations and speeds (formats.py) -------------------------------------------------------------
    "unit.day": "siku {count}",
    "unit.hour": "saa {count}",
    "unit.minute": "dakika {count}",
    "duration.under_a_minute": "chini ya dakika moja",
    "speed.up_to": "hadi {speed}",
}

CATALOGUE = {"en": ENGLISH, "sw": SWAHILI}
