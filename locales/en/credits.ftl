## Credits and giveaway codes

credits-balance = You have { $balance ->
        [one] { $balance } credit
       *[other] { $balance } credits
    }. Each photo costs { $cost ->
        [one] { $cost } credit
       *[other] { $cost } credits
    }.
credits-plan = Your plan: { $plan }, valid until { $until }.
credits-recent = Recent:
credits-entry = • { $date }: { $kind ->
        [signup] +{ $amount } welcome gift
        [grant] +{ $amount } from Nexoraz support
        [redeem] +{ $amount } giveaway code
        [purchase] +{ $amount } purchase
        [refund] +{ $amount } refund for a photo that failed
        [purchase_refund] −{ $amount } refunded purchase
        [not_right] +{ $amount } returned for a result that was not right
        [doubtful] +{ $amount } back for a hard photo (not charged)
        [link] −{ $amount } second welcome gift returned (chats joined)
       *[debit] −{ $amount } photo rendered
    }
credits-get-more = Need more? Buy a pack with /buy.{ $more }
credits-not-enough = You do not have enough credits for this photo: you have { $balance }, it needs { $cost }.{ $more }

redeem-how = Send your giveaway code like this: redeem NX7K-3P9Q
redeem-ok = 🎉 Code accepted: { $credits ->
        [one] { $credits } credit
       *[other] { $credits } credits
    } added. Your balance is now { $balance }.
redeem-rejected = This code is not valid, or it has already been used. Please check it and try again.
redeem-malformed = That does not look like a giveaway code. Codes look like NX7K-3P9Q: letters and digits.
redeem-too-many = Too many wrong codes. Please wait an hour before trying again.
